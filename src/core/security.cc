/*  =========================================================================
    security.cc - key pairs, certificate files, and CURVE (or PLAIN) on sockets

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/
#include "core/security.h"
#include "core/log.h"
#include "core/names.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <dirent.h>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace zgm {

KeyPair KeyPair::generate() {
    KeyPair keys;
    char public_txt[41], secret_txt[41];
    if (zmq_curve_keypair(public_txt, secret_txt) == 0) {
        keys.public_txt = public_txt;
        keys.secret_txt = secret_txt;
    }
    return keys;
}

Key KeyPair::public_key() const {
    Key key;
    Key::parse(public_txt, &key);
    return key;
}

namespace {

Status io_error(const std::string& what, const std::string& path, int error) {
    Status::Code code = error == ENOSPC || error == EDQUOT                    ? Status::kFull
                        : error == EACCES || error == EROFS || error == EPERM ? Status::kReadOnly
                                                                              : Status::kIo;
    return Status::error(code, what + " " + path + ": " + strerror(error));
}

//  Writes one file of the certificate to a fresh temporary file of that mode beside path
//  and returns its name (empty on failure, with *error set). The mode is set as well as
//  asked for: the process's umask (077 for a service, say) would take the public file's
//  read bits from the servers that must read it.
std::string write_temporary(zcert_t* cert, const std::string& path, bool secret, int* error) {
    char suffix[64];
    snprintf(suffix, sizeof suffix, ".tmp.%d.%p", (int)getpid(), (void*)cert);
    std::string temporary = path + suffix;
    mode_t mode = secret ? 0600 : 0644;
    int fd = open(temporary.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd < 0 || fchmod(fd, mode) != 0) {
        *error = errno;
        if (fd >= 0) {
            close(fd);
            unlink(temporary.c_str());
        }
        return "";
    }
    close(fd);
    //  CZMQ opens the file again to write it; it keeps the mode set above.
    int rc = secret ? zcert_save_secret(cert, temporary.c_str())
                    : zcert_save_public(cert, temporary.c_str());
    if (rc != 0) {
        *error = errno ? errno : EIO;
        unlink(temporary.c_str());
        return "";
    }
    fd = open(temporary.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
    return temporary;
}

zcert_t* new_cert(const KeyPair& keys, const std::string& name) {
    uint8_t public_key[32], secret_key[32];
    if (keys.public_txt.size() != 40 || keys.secret_txt.size() != 40 ||
        !zmq_z85_decode(public_key, keys.public_txt.c_str()) ||
        !zmq_z85_decode(secret_key, keys.secret_txt.c_str()))
        return nullptr;
    zcert_t* cert = zcert_new_from(public_key, secret_key);
    if (cert && !name.empty()) zcert_set_meta(cert, "name", "%s", name.c_str());
    return cert;
}

//  Whether zconfig reads text without a complaint. zconfig prints its syntax errors to
//  stdout (zclock_log), where a command prints its output (its JSON, say), and a registry
//  that reads its --trust directory every few seconds would print them again each time; a
//  file it would complain about is refused here instead, as no certificate. These are the
//  rules of zconfig_chunk_load: indentation in fours, at most one level deeper than the line
//  before; a name of its characters, not starting or ending with '/'; after it, nothing or
//  a value (quoted: closed, then nothing but blanks or a comment); without a name, nothing
//  but blanks or a comment.
static bool zpl_readable(const std::string& text) {
    auto rest_is_blank = [](const char* at) {
        while (*at && isspace((unsigned char)*at))
            at++;
        return *at == '\0' || *at == '#';
    };
    int depth = 0; //  the deepest level the next name may be at
    size_t start = 0;
    while (start < text.size()) {
        size_t end = text.find('\n', start);
        if (end == std::string::npos) end = text.size();
        std::string line = text.substr(start, std::min<size_t>(end - start, 1024));
        start = end + 1;
        if (line.find('\0') != std::string::npos) return false; //  read as ending there
        while (!line.empty() && isspace((unsigned char)line.back()))
            line.pop_back();
        size_t spaces = line.find_first_not_of(' ');
        if (spaces == std::string::npos) spaces = line.size();
        if (spaces % 4) return false;
        const char* at = line.c_str() + spaces;
        const char* name = at;
        while (*at && zpl_name_char(*at))
            at++;
        if (at == name) {
            if (!rest_is_blank(at)) return false;
            continue;
        }
        if (*name == '/' || at[-1] == '/' || (int)(spaces / 4) > depth) return false;
        depth = (int)(spaces / 4) + 1;
        while (*at && isspace((unsigned char)*at))
            at++;
        if (*at != '=') {
            if (!rest_is_blank(at)) return false;
            continue;
        }
        at++;
        while (*at && isspace((unsigned char)*at))
            at++;
        if (*at == '"' || *at == '\'') {
            const char* close = strchr(at + 1, *at);
            if (!close || !rest_is_blank(close + 1)) return false;
        }
    }
    return true;
}

//  Reads the file open at fd (and closes it) into *text: false if it cannot, or if the file
//  is over 1 MiB or not one zconfig reads without a complaint.
static bool read_zpl(int fd, std::string* text) {
    if (fd < 0) return false;
    char buffer[16384];
    ssize_t got;
    while (((got = read(fd, buffer, sizeof buffer)) > 0 || (got < 0 && errno == EINTR)) &&
           text->size() <= (1u << 20))
        if (got > 0) text->append(buffer, (size_t)got);
    close(fd);
    return got >= 0 && text->size() <= (1u << 20) && zpl_readable(*text);
}

//  zcert_load, of a file zconfig reads without a complaint: the secret file if there is
//  one (zcert_load reads the other only when that one fails), else the public one. A
//  file of more than 1 MiB is no certificate either.
static zcert_t* load_cert(const std::string& path) {
    std::string secret = path + "_secret";
    int fd = open(secret.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    std::string text;
    return read_zpl(fd, &text) ? zcert_load(path.c_str()) : nullptr;
}

bool read_cert(const std::string& path, KeyPair* keys, std::string* name) {
    zcert_t* cert = load_cert(path);
    if (!cert) return false;
    const char* secret = zcert_secret_txt(cert);
    bool ok = secret && strlen(secret) == 40 && strspn(secret, "0") != 40;
    if (ok) {
        keys->public_txt = zcert_public_txt(cert);
        keys->secret_txt = secret;
        if (name) {
            const char* meta = zcert_meta(cert, "name");
            *name = meta ? meta : "";
        }
    }
    zcert_destroy(&cert);
    return ok;
}

bool exists(const std::string& path) {
    struct stat info;
    return stat(path.c_str(), &info) == 0;
}

//  A certificate's name is written between double quotes that nothing escapes: a display
//  name holds none (valid_display_name), and one that does is refused before anything is
//  written (a name with '"' left both files unreadable).
bool writable_name(const std::string& name, Status* status) {
    if (name.empty() || valid_display_name(name)) return true;
    *status = Status::error(Status::kInvalid, invalid_display_name_reason());
    return false;
}

} // namespace

Status save_key_pair(const std::string& path, const KeyPair& keys, const std::string& name) {
    Status refused;
    if (!writable_name(name, &refused)) return refused;
    zcert_t* cert = new_cert(keys, name);
    if (!cert) return Status::error(Status::kInvalid, "not a key pair");
    int error = 0;
    std::string secret = write_temporary(cert, path + "_secret", true, &error);
    std::string public_file = secret.empty() ? "" : write_temporary(cert, path, false, &error);
    zcert_destroy(&cert);
    if (secret.empty() || public_file.empty()) {
        if (!secret.empty()) unlink(secret.c_str());
        return io_error("cannot write", path, error);
    }
    if (rename(secret.c_str(), (path + "_secret").c_str()) != 0 ||
        rename(public_file.c_str(), path.c_str()) != 0) {
        error = errno;
        unlink(secret.c_str());
        unlink(public_file.c_str());
        return io_error("cannot write", path, error);
    }
    return Status::ok();
}

//  The public key FILE itself holds (zcert_load reads FILE_secret when there is one).
static bool public_file_key(const std::string& path, Key* key) {
    std::string text;
    if (!read_zpl(open(path.c_str(), O_RDONLY | O_CLOEXEC), &text)) return false;
    zconfig_t* config = zconfig_str_load(text.c_str());
    const char* found = config ? zconfig_get(config, "curve/public-key", nullptr) : nullptr;
    bool ok = found && Key::parse(found, key);
    zconfig_destroy(&config);
    return ok;
}

static Status read_key_pair(const std::string& path, bool create, KeyPair* keys,
                            std::string* name) {
    if (read_cert(path, keys, name)) return Status::ok();
    std::string secret_path = path + "_secret";
    //  Another process making it may have put it there since: read it again.
    if (exists(secret_path) && read_cert(path, keys, name)) return Status::ok();
    if (exists(secret_path) || !create) {
        Key public_key;
        std::string ignored;
        if (!exists(secret_path) && exists(path) && !read_public_key(path, &public_key, &ignored))
            return Status::error(Status::kInvalid,
                                 path +
                                     " is not a certificate (a key pair is FILE and FILE_secret)");
        if (!exists(secret_path) && exists(path))
            return Status::error(Status::kInvalid,
                                 path + " is a public certificate; its secret key (" + secret_path +
                                     ") is not there");
        if (!exists(secret_path)) return Status::error(Status::kNotFound, "no key pair at " + path);
        //  Another process may have made it since the read above (its secret file appears
        //  whole, before its public one): read it once more before calling it damaged.
        if (read_cert(path, keys, name)) return Status::ok();
        return Status::error(Status::kCorrupt, secret_path + " is not a CURVE certificate");
    }
    if (exists(path)) {
        if (read_cert(path, keys, name)) return Status::ok(); //  as above
        Key public_key;
        if (public_file_key(path, &public_key))
            return Status::error(Status::kInvalid,
                                 path + " is a public certificate; its secret key (" + secret_path +
                                     ") is not there, and is not made beside it");
        return Status::error(Status::kExists,
                             path + " is there and is not a certificate; it is left as it is");
    }
    //  Create: the secret file appears at once and whole (link fails if another process
    //  made it first; then that one is the key pair).
    Status refused;
    if (name && !writable_name(*name, &refused)) return refused;
    KeyPair fresh = KeyPair::generate();
    zcert_t* cert = new_cert(fresh, name ? *name : "");
    if (!cert) return Status::error(Status::kIo, "cannot make a key pair");
    int error = 0;
    std::string temporary = write_temporary(cert, secret_path, true, &error);
    if (temporary.empty()) {
        zcert_destroy(&cert);
        return io_error("cannot create", secret_path, error);
    }
    int rc = link(temporary.c_str(), secret_path.c_str());
    error = errno;
    unlink(temporary.c_str());
    if (rc != 0 && error != EEXIST) {
        zcert_destroy(&cert);
        return io_error("cannot create", secret_path, error);
    }
    if (rc == 0) {
        std::string public_file = write_temporary(cert, path, false, &error);
        if (public_file.empty() || rename(public_file.c_str(), path.c_str()) != 0) {
            zcert_destroy(&cert);
            return io_error("cannot create", path, error ? error : errno);
        }
    }
    zcert_destroy(&cert);
    if (!read_cert(path, keys, name))
        return Status::error(Status::kCorrupt, secret_path + " is not a CURVE certificate");
    return Status::ok();
}

Status load_key_pair(const std::string& path, bool create, KeyPair* keys, std::string* name) {
    Status status = read_key_pair(path, create, keys, name);
    //  The secret file readable by others (copied with cp -p from elsewhere, a chmod):
    //  said, not refused, as a service that would not start is worse.
    struct stat info;
    std::string secret_path = path + "_secret";
    if (status.is_ok() && stat(secret_path.c_str(), &info) == 0 && (info.st_mode & 077))
        ZGM_WARN("%s can be read by other users of this machine (mode %03o): chmod 600 it",
                 secret_path.c_str(), (unsigned)(info.st_mode & 0777));
    //  FILE and FILE_secret are one pair: a FILE copied over from another pair would be what
    //  an operator copies to the registry's trust, which then refuses the key this role
    //  proves (the role said FILE's name beside its real key).
    Key in_file;
    if (status.is_ok() && public_file_key(path, &in_file) && in_file.str() != keys->public_txt)
        return Status::error(Status::kInvalid, path + " holds the public key " + in_file.str() +
                                                   ", and " + path + "_secret the key pair of " +
                                                   keys->public_txt +
                                                   ": they are not one key pair (one of them "
                                                   "copied over from another?)");
    return status;
}

Status make_key_pair(const std::string& path, const std::string& name) {
    KeyPair keys;
    Status existing = load_key_pair(path, false, &keys);
    if (existing.is_ok())
        return Status::error(Status::kExists, "there is a key pair at " + path + " already");
    //  Whatever else is there (a public certificate alone, one pair's file over another's)
    //  is left as it is, and said.
    if (exists(path) || exists(path + "_secret"))
        return Status::error(Status::kExists, existing.message());
    std::string label = name;
    return load_key_pair(path, true, &keys, &label);
}

bool read_public_key(const std::string& text_or_path, Key* key, std::string* error) {
    //  A file first: a path can be 40 characters of the Z85 alphabet too.
    if (exists(text_or_path)) {
        zcert_t* cert = load_cert(text_or_path);
        bool ok = cert && Key::parse(zcert_public_txt(cert), key);
        zcert_destroy(&cert);
        if (ok) return true;
        *error = "'" + text_or_path + "' is not a certificate file";
        return false;
    }
    if (Key::parse(text_or_path, key)) return true;
    //  Nothing of that name exists here (a mistyped path, or a file of another machine).
    *error = "'" + text_or_path + "': no such file, and not a public key (40 Z85 characters)";
    return false;
}

bool read_public_keys_in(const std::string& dir, std::vector<Key>* keys, std::string* error,
                         std::vector<std::string>* notes) {
    keys->clear();
    DIR* handle = opendir(dir.c_str());
    if (!handle) {
        *error = "cannot read " + dir + ": " + strerror(errno);
        return false;
    }
    while (struct dirent* entry = readdir(handle)) {
        if (entry->d_name[0] == '.') continue;
        std::string path = dir + "/" + entry->d_name;
        struct stat info;
        if (stat(path.c_str(), &info) != 0 || !S_ISREG(info.st_mode)) continue;
        zcert_t* cert = load_cert(path);
        Key key;
        bool ok = cert && Key::parse(zcert_public_txt(cert), &key) && !key.is_nil();
        if (ok) keys->push_back(key);
        zcert_destroy(&cert);
        if (!ok && notes) notes->push_back(path + ": not a certificate, skipped");
    }
    closedir(handle);
    std::sort(keys->begin(), keys->end());
    keys->erase(std::unique(keys->begin(), keys->end()), keys->end());
    return true;
}

void secure_server_socket(zsock_t* socket, const KeyPair& keys, Security security,
                          const std::string& zap_domain) {
    if (!zap_domain.empty()) zsock_set_zap_domain(socket, zap_domain.c_str());
    if (security == Security::kInsecure) {
        zsock_set_plain_server(socket, 1);
        return;
    }
    zsock_set_curve_server(socket, 1);
    zsock_set_curve_publickey(socket, keys.public_txt.c_str());
    zsock_set_curve_secretkey(socket, keys.secret_txt.c_str());
}

void secure_client_socket(zsock_t* socket, const KeyPair& keys, Security security,
                          const Key& server_key) {
    if (security == Security::kInsecure) {
        zsock_set_plain_username(socket, keys.public_txt.c_str());
        zsock_set_plain_password(socket, "-"); //  unused; libzmq refuses an empty one
        return;
    }
    zsock_set_curve_publickey(socket, keys.public_txt.c_str());
    zsock_set_curve_secretkey(socket, keys.secret_txt.c_str());
    zsock_set_curve_serverkey(socket, server_key.str().c_str());
}

} // namespace zgm
