/*  =========================================================================
    powercut_fs.c - a disk that loses what was not flushed, for power cut tests

    A FUSE file system with one file, disk.img, backed by an image file. What is written
    to disk.img stays in memory until an fsync; only then does it reach the image. A
    loop device on disk.img turns every cache flush of the file system above it (ext4's
    journal commits, the fsyncs SQLite asks for) into such an fsync. SIGUSR1 cuts the
    power: what was written since the last flush is dropped (or, with --keep-fraction F,
    each 4 KiB block of it is kept with probability F: writes the disk took in some
    order), the image is left as a disk would be after the cut, and from then on every
    read, write and flush fails with EIO, as a disk without power would: nothing written
    after the cut can be acknowledged as flushed. The cut is reported in --status FILE
    ("cut dropped N kept K flushes F").

    The kernel here has no dm-flakey or dm-log-writes (no device mapper) and no
    nbd; loop devices and FUSE it has. This is the same model as dm-log-writes replayed
    to the last flush: a disk with a volatile write cache that honours flushes.

        powercut_fs --image FILE --status FILE [--keep-fraction F] [--seed N] MOUNTPOINT

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/
#define FUSE_USE_VERSION 35
#include <fuse3/fuse.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define BLOCK 4096

static const char* s_image;
static const char* s_status;
static double s_keep_fraction = 0.0;
static unsigned s_seed = 1;
static int s_fd = -1;
static off_t s_size;
static size_t s_blocks;
static uint8_t** s_dirty; //  per block: the unflushed content, or NULL
static size_t s_dirty_count;
static unsigned long s_flushes;
static int s_cut;
static int s_armed; //  SIGUSR1 came: cut at the next write
static pthread_mutex_t s_lock = PTHREAD_MUTEX_INITIALIZER;

static const char* kName = "/disk.img";

//  A block as the disk holds it now: unflushed content, else the image's.
static int load_block(size_t block, uint8_t* into) {
    if (s_dirty[block]) {
        memcpy(into, s_dirty[block], BLOCK);
        return 0;
    }
    ssize_t got = pread(s_fd, into, BLOCK, (off_t)block * BLOCK);
    if (got < 0) return -errno;
    if (got < BLOCK) memset(into + got, 0, (size_t)(BLOCK - got));
    return 0;
}

static int flush_all(void) {
    for (size_t block = 0; block < s_blocks; block++) {
        if (!s_dirty[block]) continue;
        if (pwrite(s_fd, s_dirty[block], BLOCK, (off_t)block * BLOCK) != BLOCK) return -EIO;
        free(s_dirty[block]);
        s_dirty[block] = NULL;
    }
    s_dirty_count = 0;
    s_flushes++;
    return 0;
}

static void cut_power(void) {
    unsigned long dropped = 0, kept = 0;
    for (size_t block = 0; block < s_blocks; block++) {
        if (!s_dirty[block]) continue;
        double draw = (double)rand_r(&s_seed) / ((double)RAND_MAX + 1.0);
        if (draw < s_keep_fraction &&
            pwrite(s_fd, s_dirty[block], BLOCK, (off_t)block * BLOCK) == BLOCK)
            kept++;
        else
            dropped++;
        free(s_dirty[block]);
        s_dirty[block] = NULL;
    }
    s_dirty_count = 0;
    s_cut = 1;
    fsync(s_fd);
    FILE* status = fopen(s_status, "w");
    if (status) {
        fprintf(status, "cut dropped %lu kept %lu flushes %lu\n", dropped, kept, s_flushes);
        fclose(status);
    }
}

static void* cut_thread(void* arg) {
    sigset_t* set = (sigset_t*)arg;
    int signo = 0;
    if (sigwait(set, &signo) != 0) return NULL;
    pthread_mutex_lock(&s_lock);
    s_armed = 1;
    pthread_mutex_unlock(&s_lock);
    for (int i = 0; i < 200; i++) {
        struct timespec pause = {0, 10000000};
        nanosleep(&pause, NULL);
        pthread_mutex_lock(&s_lock);
        int cut = s_cut;
        pthread_mutex_unlock(&s_lock);
        if (cut) return NULL;
    }
    pthread_mutex_lock(&s_lock);
    if (!s_cut) cut_power(); //  no write came: the disk was idle
    pthread_mutex_unlock(&s_lock);
    return NULL;
}

static int fs_getattr(const char* path, struct stat* st, struct fuse_file_info* fi) {
    (void)fi;
    memset(st, 0, sizeof *st);
    if (strcmp(path, "/") == 0) {
        st->st_mode = S_IFDIR | 0700;
        st->st_nlink = 2;
        return 0;
    }
    if (strcmp(path, kName) != 0) return -ENOENT;
    st->st_mode = S_IFREG | 0600;
    st->st_nlink = 1;
    st->st_size = s_size;
    st->st_blocks = s_size / 512;
    return 0;
}

static int fs_readdir(const char* path, void* buffer, fuse_fill_dir_t fill, off_t offset,
                      struct fuse_file_info* fi, enum fuse_readdir_flags flags) {
    (void)offset;
    (void)fi;
    (void)flags;
    if (strcmp(path, "/") != 0) return -ENOENT;
    fill(buffer, ".", NULL, 0, 0);
    fill(buffer, "..", NULL, 0, 0);
    fill(buffer, kName + 1, NULL, 0, 0);
    return 0;
}

static int fs_open(const char* path, struct fuse_file_info* fi) {
    if (strcmp(path, kName) != 0) return -ENOENT;
    fi->direct_io = 1; //  every read and write comes here, in the order the loop sends them
    return 0;
}

static int fs_read(const char* path, char* buffer, size_t size, off_t offset,
                   struct fuse_file_info* fi) {
    (void)path;
    (void)fi;
    if (s_cut) return -EIO;
    if (offset >= s_size) return 0;
    if (offset + (off_t)size > s_size) size = (size_t)(s_size - offset);
    pthread_mutex_lock(&s_lock);
    uint8_t block_data[BLOCK];
    size_t done = 0;
    int rc = 0;
    while (done < size) {
        off_t at = offset + (off_t)done;
        size_t block = (size_t)(at / BLOCK), within = (size_t)(at % BLOCK);
        size_t take = BLOCK - within < size - done ? BLOCK - within : size - done;
        if ((rc = load_block(block, block_data)) != 0) break;
        memcpy(buffer + done, block_data + within, take);
        done += take;
    }
    pthread_mutex_unlock(&s_lock);
    return rc ? rc : (int)done;
}

static int fs_write(const char* path, const char* data, size_t size, off_t offset,
                    struct fuse_file_info* fi) {
    (void)path;
    (void)fi;
    if (offset >= s_size) return -ENOSPC;
    if (offset + (off_t)size > s_size) size = (size_t)(s_size - offset);
    pthread_mutex_lock(&s_lock);
    int rc = s_cut ? -EIO : 0;
    size_t done = 0;
    while (!rc && done < size) {
        off_t at = offset + (off_t)done;
        size_t block = (size_t)(at / BLOCK), within = (size_t)(at % BLOCK);
        size_t take = BLOCK - within < size - done ? BLOCK - within : size - done;
        if (!s_dirty[block]) {
            uint8_t* fresh = malloc(BLOCK);
            if (!fresh || (rc = load_block(block, fresh)) != 0) {
                free(fresh);
                rc = rc ? rc : -ENOMEM;
                break;
            }
            s_dirty[block] = fresh;
            s_dirty_count++;
        }
        memcpy(s_dirty[block] + within, data + done, take);
        done += take;
    }
    if (!rc && s_armed && !s_cut) {
        cut_power(); //  this write, and all before it since the last flush, in flight
        rc = -EIO;
    }
    pthread_mutex_unlock(&s_lock);
    return rc ? rc : (int)size;
}

static int fs_fsync(const char* path, int datasync, struct fuse_file_info* fi) {
    (void)path;
    (void)datasync;
    (void)fi;
    pthread_mutex_lock(&s_lock);
    int rc = s_cut ? -EIO : flush_all();
    pthread_mutex_unlock(&s_lock);
    return rc;
}

static int fs_truncate(const char* path, off_t size, struct fuse_file_info* fi) {
    (void)path;
    (void)fi;
    return size == s_size ? 0 : -EPERM;
}

static const struct fuse_operations kOperations = {
    .getattr = fs_getattr,
    .readdir = fs_readdir,
    .open = fs_open,
    .read = fs_read,
    .write = fs_write,
    .fsync = fs_fsync,
    .truncate = fs_truncate,
};

int main(int argc, char** argv) {
    //  Our options first, then the mount point and FUSE's own.
    char* fuse_argv[16];
    int fuse_argc = 0;
    fuse_argv[fuse_argc++] = argv[0];
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--image") == 0 && i + 1 < argc)
            s_image = argv[++i];
        else if (strcmp(argv[i], "--status") == 0 && i + 1 < argc)
            s_status = argv[++i];
        else if (strcmp(argv[i], "--keep-fraction") == 0 && i + 1 < argc)
            s_keep_fraction = atof(argv[++i]);
        else if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc)
            s_seed = (unsigned)strtoul(argv[++i], NULL, 10);
        else if (fuse_argc < 12)
            fuse_argv[fuse_argc++] = argv[i];
    }
    if (!s_image || !s_status || fuse_argc < 2) {
        fprintf(stderr, "usage: powercut_fs --image FILE --status FILE [--keep-fraction F] "
                        "[--seed N] MOUNTPOINT\n");
        return 2;
    }
    fuse_argv[fuse_argc++] = "-f";
    //  FUSE changes to the root directory: the status file's path must not be relative.
    static char status_path[4096];
    if (s_status[0] != '/') {
        char cwd[2048];
        if (!getcwd(cwd, sizeof cwd)) return 1;
        snprintf(status_path, sizeof status_path, "%s/%s", cwd, s_status);
        s_status = status_path;
    }
    s_fd = open(s_image, O_RDWR);
    struct stat info;
    if (s_fd < 0 || fstat(s_fd, &info) != 0 || info.st_size < BLOCK) {
        fprintf(stderr, "powercut_fs: cannot use %s: %s\n", s_image, strerror(errno));
        return 1;
    }
    s_size = info.st_size - info.st_size % BLOCK;
    s_blocks = (size_t)(s_size / BLOCK);
    s_dirty = calloc(s_blocks, sizeof *s_dirty);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &set, NULL); //  every thread, but the one that waits for it
    pthread_t cutter;
    pthread_create(&cutter, NULL, cut_thread, &set);
    int rc = fuse_main(fuse_argc, fuse_argv, &kOperations, NULL);
    close(s_fd);
    return rc;
}
