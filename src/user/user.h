/*  =========================================================================
    user.h - the user: its connections, the groups it follows, catch-up

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/
#ifndef ZGM_USER_USER_H
#define ZGM_USER_USER_H

#include "core/uuid.h"
#include "proto/proto.h"

#include <czmq.h>

namespace zgm {

struct UserArgs {
    Uuid id;
    zsock_t* events; //  the actor's end of the live-message pipe; the actor destroys it
};

//  The user's actor: zactor_new (user_actor, UserArgs *). It owns one DEALER to the registry
//  and one per group server. Pipe commands (the caller waits for each reply):
//    CONNECT endpoint            -> "i" 0 or -1
//    ROUTE group endpoint        -> "i": the group is served at endpoint (connects if new)
//    WHERE group                 -> "s": the endpoint of the group, "" if unknown
//    REQUEST group msecs message -> "sp": "REPLY" and a proto::Message * the caller deletes,
//                                   or "TIMEOUT" / "NOROUTE" and NULL. The request is a
//                                   proto::Message * ("p") the actor deletes; group "" is the
//                                   registry. A FOLLOWING reply starts following the group
//                                   from the request's after_seq (UINT64_MAX: from its end);
//                                   an OK to LEAVE stops following it.
//    LAST group                  -> "8": the last seq delivered of the group
//    $TERM
//  Live messages go out on `events` in batches, each one zgm_proto DELIVER frame (a group
//  and its next messages in seq order). Every message of a followed group goes out once and
//  in order: the actor fetches what pushes missed.
void user_actor(zsock_t* pipe, void* args);

} // namespace zgm

#endif
