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
//    SET name value  -> "is": 0 or an Error (core/errors.h), and why. Names:
//                       key-public, key-secret (Z85; before BIND; default: a new pair),
//                       insecure (0|1, before BIND), trust (a group server's public key,
//                       Z85), trust-dir (a directory of public certificates, re-read when
//                       it changes), expiry (ms), max-rate, max-connections, max-frame
//                       (before BIND), max-groups
//    BIND endpoint   -> "iis": the bound port (0 for non-TCP, -1 on failure), errno, why
//    KEY             -> "s": the registry's public key (Z85)
//    $TERM
void registry_actor(zsock_t* pipe, void* args);

} // namespace zgm

#endif
