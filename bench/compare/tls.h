/*  =========================================================================
    tls.h - zgm-bench-peers' throwaway certificates and OpenSSL client context

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/
#ifndef ZGM_BENCH_TLS_H
#define ZGM_BENCH_TLS_H

#include <string>
#include <vector>

typedef struct ssl_ctx_st SSL_CTX;

namespace bench {

//  The files of a run's throwaway public key infrastructure, all in one directory.
struct Pki {
    std::string ca_cert;     //  the CA the clients trust
    std::string server_cert; //  signed by that CA for IP 127.0.0.1 and DNS localhost
    std::string server_key;
    std::string other_ca_cert; //  an unrelated CA: a client trusting only it must be refused
    std::string description;   //  key types and names, for the JSON params
};

//  Makes, with the openssl program, in dir (created, mode 0700): a CA (EC P-256 key,
//  self-signed, valid 2 days), a server key and a certificate that CA signs with
//  subjectAltName IP:127.0.0.1, DNS:localhost, and a second, unrelated CA. False (and a
//  note on stderr, with the end of its output) if openssl fails.
bool make_throwaway_pki(const std::string& dir, Pki* pki);

//  A client context: TLS 1.2 or 1.3 (OpenSSL's defaults), the peer's certificate verified
//  against ca_file only. Null on failure.
SSL_CTX* tls_client_context(const std::string& ca_file);

//  OpenSSL's error queue as text, emptied.
std::string tls_errors();

//  Runs a program to its end (at most timeout_ms, then it is killed), output appended to
//  log_path. Its exit status, or -1.
int run_program(const std::vector<std::string>& args, const std::string& log_path, int timeout_ms);

} // namespace bench

#endif
