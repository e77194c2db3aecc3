/*  =========================================================================
    group.h - the group server: hosts groups, their members and messages

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/
#ifndef ZGM_GROUP_GROUP_H
#define ZGM_GROUP_GROUP_H

#include <czmq.h>

namespace zgm {

//  The group server's actor: zactor_new (group_actor, data_dir or NULL for memory).
//  Pipe commands; those marked "is" reply with an errno-style code (0 = ok, else a
//  zgm_error_t) and a reason:
//    STATUS                  -> "is": whether the store opened
//    DURABILITY full|normal  -> "is": reopens the store with that durability
//    ADD name                -> "is"
//    BIND endpoint           -> "ii": bound port (0 for non-TCP, -1 on failure), errno
//    ADVERTISE endpoint, ACCEPT_NEW 0|1, HEARTBEAT msecs  (no reply)
//    CONNECT endpoint        -> "is", once every group is registered, refused, or after 5 s
//    $TERM                   (deregisters first when connected)
void group_actor(zsock_t* pipe, void* args);

} // namespace zgm

#endif
