/*  =========================================================================
    security.h - key pairs, certificate files, and CURVE (or PLAIN) on sockets

    Every registry, group server and user has a CURVE key pair. On disk a key pair is a
    CZMQ certificate: FILE holds the public key, FILE_secret both keys (mode 0600). Servers
    take the sender of each request from the connection: the ZAP handler (core/zap.h)
    names each authenticated connection by its public key, and proto::recv reads it back.

    With Security::kInsecure the same code speaks PLAIN instead of CURVE: no encryption,
    and the client's "key" is the PLAIN user name it states (its public key's text),
    proven by nothing. For tests and benchmarks on a trusted host only.

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/
#ifndef ZGM_CORE_SECURITY_H
#define ZGM_CORE_SECURITY_H

#include "core/key.h"
#include "core/status.h"

#include <czmq.h>
#include <string>
#include <vector>

namespace zgm {

enum class Security {
    kCurve,    //  the default: encrypted, the peer's key proven
    kInsecure, //  PLAIN: clear text, the peer's key claimed
};

//  A CURVE key pair, as Z85 text.
struct KeyPair {
    std::string public_txt; //  40 characters
    std::string secret_txt; //  40 characters

    //  A new random key pair.
    static KeyPair generate();
    Key public_key() const;
    bool empty() const { return public_txt.empty(); }
};

//  Reads the certificate at path (path_secret, holding both keys). With `create`, a path
//  that does not exist yet gets a new key pair first: path_secret written with mode 0600
//  and path with 0644, each through a temporary file, so no reader ever sees half a file
//  and two processes creating the same path at once end up with the same key. *name, when
//  not NULL, gets the certificate's "name" metadata (empty if none).
Status load_key_pair(const std::string& path, bool create, KeyPair* keys,
                     std::string* name = nullptr);
//  Makes a key pair at path (as load_key_pair with create) where there is none: kExists,
//  saying why, when path or path_secret is there, whatever it holds.
Status make_key_pair(const std::string& path, const std::string& name);
//  Writes a certificate (both files, as above), replacing an existing one. name may be empty.
Status save_key_pair(const std::string& path, const KeyPair& keys, const std::string& name);
//  A public key given as its 40-character text or as a certificate file (either file of
//  the pair). False with *error set if it is neither.
bool read_public_key(const std::string& text_or_path, Key* key, std::string* error);

//  The public keys of every certificate in dir (either file of each pair; other files and
//  repeats are skipped). False with *error if dir cannot be read. *notes, when given, gets a
//  line for each file skipped. (A secret file is no mistake there: `zgm server` keeps its key
//  pair in the directory its local registry trusts.)
bool read_public_keys_in(const std::string& dir, std::vector<Key>* keys, std::string* error,
                         std::vector<std::string>* notes = nullptr);

//  Makes a server socket (a ROUTER) speak CURVE as the server of keys, or PLAIN; its
//  connections are authenticated by the ZAP handler under zap_domain.
void secure_server_socket(zsock_t* socket, const KeyPair& keys, Security security,
                          const std::string& zap_domain);
//  Makes a client socket speak CURVE to the server holding server_key, or PLAIN with its
//  public key as the user name. Call before connecting.
void secure_client_socket(zsock_t* socket, const KeyPair& keys, Security security,
                          const Key& server_key);

} // namespace zgm

#endif
