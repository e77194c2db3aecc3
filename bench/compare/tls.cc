/*  =========================================================================
    tls.cc - zgm-bench-peers' throwaway certificates and OpenSSL client context

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/
#include "tls.h"
#include "../benchutil.h"

#include <openssl/err.h>
#include <openssl/ssl.h>

namespace bench {

int run_program(const std::vector<std::string>& args, const std::string& log_path, int timeout_ms) {
    pid_t pid = spawn(args, log_path);
    if (pid <= 0) return -1;
    uint64_t deadline = mono_ns() + (uint64_t)timeout_ms * 1000000u;
    while (mono_ns() < deadline) {
        int status = 0;
        pid_t done = waitpid(pid, &status, WNOHANG);
        if (done == pid) {
            forget_child(pid);
            return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        }
        if (done < 0 && errno != EINTR) {
            forget_child(pid);
            return -1;
        }
        sleep_ms(5);
    }
    stop_child(pid);
    return -1;
}

bool make_throwaway_pki(const std::string& dir, Pki* pki) {
    if (mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
        fail("tls: cannot make %s: %s", dir.c_str(), strerror(errno));
        return false;
    }
    std::string log = dir + "/openssl.log";
    const std::vector<std::string> ec_key = {"-newkey", "ec", "-pkeyopt",
                                             "ec_paramgen_curve:prime256v1", "-nodes"};
    auto self_signed_ca = [&](const std::string& name, const char* subject) {
        std::vector<std::string> args = {"openssl", "req", "-x509", "-new"};
        args.insert(args.end(), ec_key.begin(), ec_key.end());
        args.insert(args.end(), {"-keyout", dir + "/" + name + ".key", "-out",
                                 dir + "/" + name + ".crt", "-days", "2", "-subj", subject});
        return run_program(args, log, 30000) == 0;
    };
    std::string extensions = dir + "/server.ext";
    FILE* file = fopen(extensions.c_str(), "w");
    if (file) {
        fprintf(file, "subjectAltName = IP:127.0.0.1, DNS:localhost\n"
                      "extendedKeyUsage = serverAuth\n"
                      "keyUsage = critical, digitalSignature\n"
                      "basicConstraints = critical, CA:FALSE\n");
        fclose(file);
    }
    std::vector<std::string> request = {"openssl", "req", "-new"};
    request.insert(request.end(), ec_key.begin(), ec_key.end());
    request.insert(request.end(), {"-keyout", dir + "/server.key", "-out", dir + "/server.csr",
                                   "-subj", "/CN=localhost"});
    bool ok = file && self_signed_ca("ca", "/CN=zgm-bench throwaway CA") &&
              self_signed_ca("other-ca", "/CN=zgm-bench unrelated CA") &&
              run_program(request, log, 30000) == 0 &&
              run_program({"openssl", "x509", "-req", "-in", dir + "/server.csr", "-CA",
                           dir + "/ca.crt", "-CAkey", dir + "/ca.key", "-CAcreateserial", "-days",
                           "2", "-extfile", extensions, "-out", dir + "/server.crt"},
                          log, 30000) == 0;
    if (!ok) {
        //  The log goes with the run's directory: its end here.
        std::string output = read_file(log);
        if (output.size() > 400) output = "..." + output.substr(output.size() - 400);
        fail("tls: openssl could not make the certificates (is it installed? scripts/deps.sh "
             "compare): %s",
             output.empty() ? "no output" : output.c_str());
        return false;
    }
    pki->ca_cert = dir + "/ca.crt";
    pki->server_cert = dir + "/server.crt";
    pki->server_key = dir + "/server.key";
    pki->other_ca_cert = dir + "/other-ca.crt";
    pki->description = "throwaway CA and server certificate made by openssl for this run: EC "
                       "P-256 keys, ECDSA SHA-256, subjectAltName IP:127.0.0.1, DNS:localhost; "
                       "one-way TLS (server certificate verified, no client certificates)";
    return true;
}

SSL_CTX* tls_client_context(const std::string& ca_file) {
    SSL_CTX* context = SSL_CTX_new(TLS_client_method());
    if (!context) return nullptr;
    if (SSL_CTX_load_verify_locations(context, ca_file.c_str(), nullptr) != 1) {
        SSL_CTX_free(context);
        return nullptr;
    }
    SSL_CTX_set_verify(context, SSL_VERIFY_PEER, nullptr);
    SSL_CTX_set_mode(context, SSL_MODE_ENABLE_PARTIAL_WRITE);
    return context;
}

std::string tls_errors() {
    std::string text;
    unsigned long code;
    while ((code = ERR_get_error()) != 0) {
        char line[256];
        ERR_error_string_n(code, line, sizeof line);
        text += (text.empty() ? "" : "; ") + std::string(line);
    }
    return text.empty() ? "no OpenSSL error" : text;
}

} // namespace bench
