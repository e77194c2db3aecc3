/*  =========================================================================
    actor.h - what every role's actor shares: logging (core/log.h), CZMQ's start and exit

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/
#ifndef ZGM_CORE_ACTOR_H
#define ZGM_CORE_ACTOR_H

#include "core/log.h" //  ZGM_LOG, ZGM_WARN, ZGM_ERROR

#include <czmq.h>

namespace zgm {

//  CZMQ's start-up (zsys_init) is not safe to race: two threads making the process's first
//  sockets at once abort it. Every public constructor calls this first; it runs it once.
void start_czmq();

//  The objects of the C API that are still alive when the process exits are destroyed then,
//  by an exit handler that runs before CZMQ's own: that one closes every socket left open,
//  under the actors' threads still using them, and the process aborted in exit(). Each
//  registry, group server and user object is added when made and removed when destroyed;
//  only those made by the exiting process itself (not inherited through fork) are destroyed.
void live_add(void* object, void (*destroy)(void* object));
void live_remove(void* object);

} // namespace zgm

#endif
