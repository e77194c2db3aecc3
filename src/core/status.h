/*  =========================================================================
    status.h - errors as values

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/
#ifndef ZGM_CORE_STATUS_H
#define ZGM_CORE_STATUS_H

#include <string>
#include <utility>

namespace zgm {

//  The outcome of an operation that can fail: a code and a message a person can read.
//  Nothing in the core throws; every fallible call returns a Status.
class Status {
public:
    enum Code {
        kOk = 0,
        kNotFound, //  no such group, member or row
        kExists,   //  already there (group name, member)
        kInvalid,  //  the caller's argument is wrong
        kFull,     //  disk or database full
        kReadOnly, //  the data directory or database is read-only
        kCorrupt,  //  the database is damaged or not a zgm store
        kIo,       //  any other I/O or database failure
        kBusy,     //  held by someone else (a store directory another process serves)
        kInDoubt,  //  a write that failed at its sync: it may be stored (found after a crash)
    };

    Status() = default;
    static Status ok() { return Status(); }
    static Status error(Code code, std::string message) { return Status(code, std::move(message)); }

    bool is_ok() const { return code_ == kOk; }
    Code code() const { return code_; }
    const std::string& message() const { return message_; }

private:
    Status(Code code, std::string message) : code_(code), message_(std::move(message)) {}
    Code code_ = kOk;
    std::string message_;
};

} // namespace zgm

#endif
