/*  =========================================================================
    registry.h - the registry: the live list of groups and where each is served

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/
#ifndef ZGM_REGISTRY_REGISTRY_H
#define ZGM_REGISTRY_REGISTRY_H

#include <czmq.h>

namespace zgm {

//  The registry's actor (zactor_new (registry_actor, NULL)). Pipe commands:
//    BIND endpoint   -> "ii": the bound port (0 for non-TCP, -1 on failure), and errno
//    EXPIRY msecs    -> a group server silent this long is dropped (no reply)
//    $TERM
void registry_actor(zsock_t* pipe, void* args);

} // namespace zgm

#endif
