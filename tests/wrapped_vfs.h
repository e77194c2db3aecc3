/*  =========================================================================
    wrapped_vfs.h - an SQLite VFS over the default one, for tests that make a disk misbehave

    Each file it opens is the default VFS's file, said to be a main database or a WAL, whose
    methods are the default file's but for the hooks a test gives (a sync that fails or waits,
    a read that fails, a write that is counted). One per test program: the hooks are set once.

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/
#ifndef ZGM_TESTS_WRAPPED_VFS_H
#define ZGM_TESTS_WRAPPED_VFS_H

#include <mutex>
#include <sqlite3.h>

namespace test {

//  A file of the wrapped VFS: the default VFS's file follows it in the same allocation.
struct WrappedFile {
    sqlite3_file base;
    sqlite3_file* real;
    bool main_db;
    bool wal;
};

inline WrappedFile* wrapped(sqlite3_file* file) {
    return (WrappedFile*)file;
}

inline sqlite3_file* real_of(sqlite3_file* file) {
    return wrapped(file)->real;
}

//  The methods a test puts in place of the default file's (null: the default file's).
struct VfsHooks {
    int (*sync)(sqlite3_file* file, int flags) = nullptr;
    int (*read)(sqlite3_file* file, void* data, int size, sqlite3_int64 offset) = nullptr;
    int (*write)(sqlite3_file* file, const void* data, int size, sqlite3_int64 offset) = nullptr;
};

class WrappedVfs {
public:
    //  Makes the wrapped VFS, with these hooks (the first call's), the default for the
    //  databases opened from now on.
    static void install(const VfsHooks& hooks) {
        static std::once_flag once;
        std::call_once(once, [&] {
            WrappedVfs& self = instance();
            self.hooks_ = hooks;
            self.real_ = sqlite3_vfs_find(nullptr);
            self.vfs_ = *self.real_;
            self.vfs_.zName = "zgm-test-wrapped";
            self.vfs_.szOsFile = (int)sizeof(WrappedFile) + self.real_->szOsFile;
            self.vfs_.xOpen = open;
        });
        sqlite3_vfs_register(&instance().vfs_, 1);
    }
    //  Makes the default VFS the default again.
    static void remove() {
        sqlite3_vfs_unregister(&instance().vfs_);
        sqlite3_vfs_register(instance().real_, 1);
    }

private:
    static WrappedVfs& instance() {
        static WrappedVfs vfs;
        return vfs;
    }

    static int open(sqlite3_vfs*, sqlite3_filename name, sqlite3_file* file, int flags, int* out) {
        WrappedVfs& self = instance();
        WrappedFile* made = wrapped(file);
        made->real = (sqlite3_file*)(made + 1);
        made->main_db = (flags & SQLITE_OPEN_MAIN_DB) != 0;
        made->wal = (flags & SQLITE_OPEN_WAL) != 0;
        made->base.pMethods = nullptr;
        int rc = self.real_->xOpen(self.real_, name, made->real, flags, out);
        if (rc != SQLITE_OK || !made->real->pMethods) return rc;
        static std::once_flag once;
        std::call_once(once, [&] { self.make_methods(made->real->pMethods->iVersion); });
        made->base.pMethods = &self.methods_;
        return rc;
    }

//  A method of the default file, passed on.
#define ZGM_PASS(method)                                                                           \
    [](sqlite3_file* f, auto... args) { return real_of(f)->pMethods->method(real_of(f), args...); }

    void make_methods(int version) {
        sqlite3_io_methods& m = methods_;
        m.iVersion = version;
        m.xClose = ZGM_PASS(xClose);
        m.xRead = ZGM_PASS(xRead);
        if (hooks_.read) m.xRead = hooks_.read;
        m.xWrite = ZGM_PASS(xWrite);
        if (hooks_.write) m.xWrite = hooks_.write;
        m.xTruncate = ZGM_PASS(xTruncate);
        m.xSync = ZGM_PASS(xSync);
        if (hooks_.sync) m.xSync = hooks_.sync;
        m.xFileSize = ZGM_PASS(xFileSize);
        m.xLock = ZGM_PASS(xLock);
        m.xUnlock = ZGM_PASS(xUnlock);
        m.xCheckReservedLock = ZGM_PASS(xCheckReservedLock);
        m.xFileControl = ZGM_PASS(xFileControl);
        m.xSectorSize = ZGM_PASS(xSectorSize);
        m.xDeviceCharacteristics = ZGM_PASS(xDeviceCharacteristics);
        m.xShmMap = ZGM_PASS(xShmMap);
        m.xShmLock = ZGM_PASS(xShmLock);
        m.xShmBarrier = ZGM_PASS(xShmBarrier);
        m.xShmUnmap = ZGM_PASS(xShmUnmap);
        m.xFetch = ZGM_PASS(xFetch);
        m.xUnfetch = ZGM_PASS(xUnfetch);
    }

#undef ZGM_PASS

    VfsHooks hooks_;
    sqlite3_vfs vfs_ = {};
    sqlite3_vfs* real_ = nullptr;
    sqlite3_io_methods methods_ = {};
};

} // namespace test

#endif
