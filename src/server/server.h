/*  =========================================================================
    server.h - the group server: hosts groups, their members and messages

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/
#ifndef ZGM_SERVER_SERVER_H
#define ZGM_SERVER_SERVER_H

#include <czmq.h>

namespace zgm {

//  The group server's actor: zactor_new (server_actor, data_dir or NULL for memory).
//  Pipe commands; "is" replies are 0 or an Error (core/errors.h), and why:
//    STATUS                   -> "is": whether the store opened
//    SET name value           -> "is". Names: key-public, key-secret (Z85; before BIND;
//                                default: a new pair), insecure (0|1, before BIND),
//                                durability (full|normal, reopens the store; before ADD),
//                                advertise, accept-new (0|1), heartbeat (ms), max-rate,
//                                max-connections and max-frame (before BIND), max-groups,
//                                max-groups-per-owner, max-members, max-follows,
//                                max-follower-bytes, max-recent-bytes (0: none)
//    ADD name owner policy    -> "is": hosts a group (owner: Z85 key or ""; policy 0|1)
//    RETAIN group count bytes age_ms -> "is": a group's retention; group "" sets the
//                                default, a ceiling for every group
//    BIND endpoint            -> "iis": bound port (0 for non-TCP, -1 on failure), errno, why
//    CONNECT endpoint key     -> "is", once every group is registered, refused, or after 5 s
//    KEY                      -> "s": the server's public key (Z85)
//    $TERM                    (deregisters first when connected)
void server_actor(zsock_t* pipe, void* args);

} // namespace zgm

#endif
