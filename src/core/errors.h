/*  =========================================================================
    errors.h - what a call of the C API can fail with, inside the library

    The actors answer the C API with these codes; src/api.cc alone turns them into
    zgm_error_t (one to one), so nothing but api.cc includes the public header.

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/
#ifndef ZGM_CORE_ERRORS_H
#define ZGM_CORE_ERRORS_H

namespace zgm {

enum class Error : int {
    kOk = 0,
    kInvalid,      //  a bad argument
    kTimeout,      //  no answer in time (nothing was sent that could still take effect)
    kNotMember,    //  not a member of the group
    kNotFound,     //  no such group
    kExists,       //  the name is taken
    kAlready,      //  already a member
    kTooLarge,     //  over a size limit
    kProto,        //  a peer sent something malformed or of another version
    kStorage,      //  the store failed; nothing was stored
    kUnavailable,  //  the server is shutting down, still starting, or nobody takes new groups
    kNotConnected, //  no registry endpoint given
    kSystem,       //  a local failure
    kServer,       //  another error a server reported
    kInDoubt,      //  sent, no answer: it may have taken effect
    kDenied,       //  the key may not
    kLimit,        //  a limit of the server is reached
    kRate,         //  slowed down by the server for longer than the call may wait
    kUnreachable,  //  cannot connect: refused, no route, handshake refused
};

} // namespace zgm

#endif
