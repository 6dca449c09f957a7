/* file.c — mmap, whole-file reads, path helpers and atomic output (see file.h). */
#include "base/file.h"
#include "base/bigbuf.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define WARM_CHUNK ((size_t)4 << 20)

/* Bring the parts of a freshly mapped file that are not in the page cache into it in
 * file order, 4 MiB at a time, with read(2) into a scratch buffer. Faulted in by the
 * loader's scattered first reads instead, the page cache ends up in scattered 4 KiB
 * pages (measured: 0.5 % of a q8_0 GGUF's pages in physically contiguous runs of 2 MiB
 * or more, against 95 % when read in order, which was also faster from disk), and
 * every later decoder step streams those weights 5-18 % slower. Chunks already cached
 * are skipped, so a warm start costs one mincore; files larger than half the RAM are
 * left alone (they would evict their own beginning). Residency is asked once, up
 * front: asking chunk by chunk between the reads left the pages scattered again. */
static void warm_page_cache(int fd, const uint8_t *p, size_t size) {
    long page = sysconf(_SC_PAGESIZE), pages = sysconf(_SC_PHYS_PAGES);
    if (page <= 0 || pages <= 0 || (uint64_t)size > (uint64_t)pages * (uint64_t)page / 2)
        return;
    size_t n_pages = (size + (size_t)page - 1) / (size_t)page, chunk_pages = WARM_CHUNK / (size_t)page;
    unsigned char *resident = malloc(n_pages);
    uint8_t *scratch = malloc(WARM_CHUNK);
    if (resident && scratch && mincore((void *)p, size, resident) == 0)
        for (size_t first = 0; first < n_pages; first += chunk_pages) {
            size_t last = first + chunk_pages < n_pages ? first + chunk_pages : n_pages, missing = 0;
            for (size_t i = first; i < last; i++)
                missing += !(resident[i] & 1);
            size_t off = first * (size_t)page, len = size - off < WARM_CHUNK ? size - off : WARM_CHUNK;
            if (missing && pread(fd, scratch, len, (off_t)off) < 0)
                break; /* best effort: the mapping works regardless */
        }
    free(resident);
    free(scratch);
}

/* Opens `path` for reading into *fd without blocking on a FIFO that has no writer (a
 * plain open would wait for one forever), the descriptor back in blocking mode; fills
 * *st. Folders are refused. */
static mg_status open_for_reading(const char *path, struct stat *st, int *fd) {
    *fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (*fd < 0)
        return mg_fail(errno == ENOENT ? MG_ERR_NOT_FOUND : MG_ERR_IO, "cannot open %s: %s", path, strerror(errno));
    mg_status rc = MG_OK;
    if (fstat(*fd, st) != 0)
        rc = mg_fail(MG_ERR_IO, "cannot stat %s: %s", path, strerror(errno));
    else if (S_ISDIR(st->st_mode))
        rc = mg_fail(MG_ERR_IO, "%s is a folder, expected a file", path);
    if (rc != MG_OK) {
        close(*fd);
        *fd = -1;
        return rc;
    }
    int flags = fcntl(*fd, F_GETFL);
    if (flags >= 0)
        fcntl(*fd, F_SETFL, flags & ~O_NONBLOCK);
    return MG_OK;
}

mg_status mg_file_map(const char *path, mg_mapped_file *out) {
    memset(out, 0, sizeof *out);
    struct stat st;
    int fd;
    MG_TRY(open_for_reading(path, &st, &fd));
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return mg_fail(MG_ERR_IO, "cannot read %s: not a regular file (a pipe, device or socket); give the file itself",
                       path);
    }
    out->path = mg_strdup(path);
    if (!out->path) {
        close(fd);
        return MG_ERR_NOMEM;
    }
    out->size = (size_t)st.st_size;
    if (out->size > 0) {
        void *p = mmap(NULL, out->size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) {
            int e = errno;
            close(fd);
            free(out->path);
            out->path = NULL;
            return mg_fail(MG_ERR_IO, "cannot map %s: %s", path, strerror(e));
        }
        out->data = p;
        mg_bigbuf_no_huge_pages(p, out->size);
        warm_page_cache(fd, p, out->size);
    }
    close(fd);
    return MG_OK;
}

void mg_file_unmap(mg_mapped_file *f) {
    if (f->data)
        munmap((void *)f->data, f->size);
    free(f->path);
    memset(f, 0, sizeof *f);
}

void mg_file_release(const mg_mapped_file *f, const void *start, size_t len) {
    if (!f->data || !len)
        return;
    long page = sysconf(_SC_PAGESIZE);
    uintptr_t s = (uintptr_t)start, e = s + len;
    s = (s + (uintptr_t)page - 1) & ~((uintptr_t)page - 1);
    e &= ~((uintptr_t)page - 1);
    if (e > s)
        madvise((void *)s, e - s, MADV_DONTNEED);
}

void mg_file_map_huge(const mg_mapped_file *f, const void *start, size_t len) {
#if defined(MADV_HUGEPAGE)
    const uintptr_t huge = (uintptr_t)2 << 20;
    if (!f->data || !len)
        return;
    /* Whole huge pages inside the range only: one that reaches past its ends would map
     * its neighbours' 2 MiB as well (released weights back in the RSS). */
    uintptr_t s = ((uintptr_t)start + huge - 1) & ~(huge - 1), e = ((uintptr_t)start + len) & ~(huge - 1);
    if (e > s && madvise((void *)s, e - s, MADV_HUGEPAGE) == 0)
        madvise((void *)s, e - s, MADV_DONTNEED); /* clean file pages: only the mappings go */
#else
    (void)f;
    (void)start;
    (void)len;
#endif
}

void mg_file_copy_out(const mg_mapped_file *f, const void *start, size_t len, void *dst) {
    size_t done = 0;
    int fd = open(f->path, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        off_t off = (off_t)((const uint8_t *)start - f->data);
        while (done < len) {
            ssize_t r = pread(fd, (uint8_t *)dst + done, len - done, off + (off_t)done);
            if (r <= 0)
                break;
            done += (size_t)r;
        }
        close(fd);
    }
    if (done < len) /* the file is gone or shorter: the mapping still holds its pages */
        memcpy((uint8_t *)dst + done, (const uint8_t *)start + done, len - done);
}

/* Bytes read from a pipe or device before giving up: far more than any config, index,
 * tokenizer or codes file, and /dev/zero does not fill the memory. */
#define MG_STREAM_READ_MAX ((size_t)64 << 20)

/* A pipe or device: read until end of file. */
static mg_status read_stream(int fd, const char *path, char **data, size_t *size) {
    size_t cap = 65536, n = 0;
    char *buf = malloc(cap + 1);
    while (buf) {
        if (n == cap) {
            if (cap >= MG_STREAM_READ_MAX) {
                free(buf);
                return mg_fail(MG_ERR_IO, "cannot read %s: not a regular file, and more than %zu MiB came from it",
                               path, MG_STREAM_READ_MAX >> 20);
            }
            char *nb = realloc(buf, 2 * cap + 1);
            if (!nb)
                break;
            buf = nb;
            cap *= 2;
        }
        ssize_t r = read(fd, buf + n, cap - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int e = errno;
            free(buf);
            return mg_fail(MG_ERR_IO, "cannot read %s: %s", path, strerror(e));
        }
        if (r == 0) {
            buf[n] = 0;
            *data = buf;
            *size = n;
            return MG_OK;
        }
        n += (size_t)r;
    }
    free(buf);
    return mg_fail(MG_ERR_NOMEM, "out of memory reading %s", path);
}

/* mg_file_read_all / mg_file_read_regular: a pipe or device is read through only when
 * `streams` is set. */
static mg_status read_file(const char *path, int streams, char **data, size_t *size) {
    *data = NULL;
    if (size)
        *size = 0;
    struct stat st;
    int fd;
    MG_TRY(open_for_reading(path, &st, &fd));
    size_t got = 0;
    if (!S_ISREG(st.st_mode)) {
        mg_status rs = streams ? read_stream(fd, path, data, &got)
                               : mg_fail(MG_ERR_IO, "cannot read %s: not a regular file (a pipe, device or socket); a "
                                         "model's files must be plain files", path);
        close(fd);
        if (rs == MG_OK && size)
            *size = got;
        return rs;
    }
    size_t n = (size_t)st.st_size;
    /* A model's own files are a few KB (config) to a few MB (tokenizer); a huge one is
     * damage (or padding), and reading it whole could exhaust the memory. */
    if (!streams && n > MG_STREAM_READ_MAX) {
        close(fd);
        return mg_fail(MG_ERR_FORMAT, "%s is %.1f GB; a model's config, index or tokenizer file is at most %zu MiB, so "
                       "it is damaged: download or convert the model again", path, (double)n / 1e9,
                       MG_STREAM_READ_MAX >> 20);
    }
    char *buf = mg_malloc(n + 1, path);
    if (!buf) {
        close(fd);
        return MG_ERR_NOMEM;
    }
    int err = 0;
    while (got < n) {
        ssize_t r = read(fd, buf + got, n - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            err = r < 0 ? errno : 0;
            break;
        }
        got += (size_t)r;
    }
    close(fd);
    if (got != n) {
        free(buf);
        if (err)
            return mg_fail(MG_ERR_IO, "cannot read %s: %s", path, strerror(err));
        return mg_fail(MG_ERR_IO, "cannot read %s: short read (%zu of %zu bytes)", path, got, n);
    }
    buf[n] = 0;
    *data = buf;
    if (size)
        *size = n;
    return MG_OK;
}

mg_status mg_file_read_all(const char *path, char **data, size_t *size) { return read_file(path, 1, data, size); }

mg_status mg_file_read_regular(const char *path, char **data, size_t *size) { return read_file(path, 0, data, size); }

int64_t mg_file_keyed_number(const char *path, const char *key, char sep) {
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    char line[256];
    size_t n = strlen(key);
    long long v = -1;
    while (v < 0 && fgets(line, sizeof line, f))
        if (!strncmp(line, key, n) && line[n] == sep && sscanf(line + n + 1, "%lld", &v) != 1)
            v = -1;
    fclose(f);
    return v;
}

int mg_path_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

int mg_path_is_broken_link(const char *path) {
    char buf[4096];
    size_t n = strlen(path);
    while (n > 1 && path[n - 1] == '/') /* "link/" would name the (missing) target */
        n--;
    if (n >= sizeof buf)
        return 0;
    memcpy(buf, path, n);
    buf[n] = 0;
    struct stat st;
    return lstat(buf, &st) == 0 && S_ISLNK(st.st_mode) && stat(buf, &st) != 0;
}

int mg_path_not_a_folder(const char *dir, char *why, size_t size) {
    if (mg_path_is_dir(dir))
        return 0;
    if (mg_path_exists(dir))
        snprintf(why, size, "%s is a file, not a folder", dir);
    else if (mg_path_is_broken_link(dir))
        snprintf(why, size, "%s is a symbolic link to something that does not exist", dir);
    else
        snprintf(why, size, "folder %s does not exist; create it first", dir);
    return 1;
}

int mg_path_is_file_or_absent(const char *path) {
    struct stat st;
    return stat(path, &st) != 0 || S_ISREG(st.st_mode); /* unreadable: let the open say why */
}

int mg_path_is_dir(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

mg_status mg_mkdirs(const char *path, const char *hint, int *made) {
    int n_made = 0;
    if (made)
        *made = 0;
    if (!path[0])
        return mg_fail(MG_ERR_INVALID_ARG, "an empty folder name was given");
    char *p = mg_strdup(path);
    if (!p)
        return MG_ERR_NOMEM;
    for (char *s = p + 1;; s++) {
        if (*s != '/' && *s != 0)
            continue;
        char c = *s;
        *s = 0;
        if (mkdir(p, 0777) == 0) {
            if (made)
                *made = ++n_made;
        } else if (errno != EEXIST) {
            int e = errno;
            mg_status st = mg_fail(MG_ERR_IO, "cannot create the folder %s: %s%s", p, strerror(e), hint);
            free(p);
            return st;
        }
        *s = c;
        if (!c)
            break;
    }
    free(p);
    if (!mg_path_is_dir(path))
        return mg_fail(MG_ERR_IO, "%s exists but is not a folder", path);
    return MG_OK;
}

char *mg_path_join(const char *dir, const char *name) {
    size_t a = strlen(dir), b = strlen(name);
    int slash = a > 0 && dir[a - 1] != '/';
    char *p = mg_malloc(a + b + 2, "a path");
    if (!p)
        return NULL;
    memcpy(p, dir, a);
    if (slash)
        p[a++] = '/';
    memcpy(p + a, name, b + 1);
    return p;
}

static char *parent_dir(const char *path) {
    char *copy = mg_strdup(path);
    if (!copy)
        return NULL;
    char *d = mg_strdup(dirname(copy));
    free(copy);
    return d;
}

/* An output that exists and is neither a regular file nor a folder. */
static mg_status not_a_file_output(const char *path) {
    return mg_fail(MG_ERR_INVALID_ARG, "output %s is not a regular file (a device, pipe or socket); give a file name",
                   path);
}

mg_status mg_check_output_path(const char *path, int overwrite) {
    if (!path || !path[0])
        return mg_fail(MG_ERR_INVALID_ARG, "empty output path");
    if (mg_path_is_dir(path))
        return mg_fail(MG_ERR_INVALID_ARG, "output %s is a folder; give a file name", path);
    if (!mg_path_is_file_or_absent(path))
        return not_a_file_output(path);
    if (!overwrite && mg_path_exists(path))
        return mg_fail(MG_ERR_EXISTS, "output %s already exists", path);
    char *dir = parent_dir(path);
    if (!dir)
        return MG_ERR_NOMEM;
    mg_status st = MG_OK;
    char why[64 + 4096];
    if (mg_path_not_a_folder(dir, why, sizeof why))
        st = mg_fail(MG_ERR_IO, "cannot write %s: %s", path, why);
    else if (access(dir, W_OK) != 0)
        st = mg_fail(MG_ERR_IO, "cannot write %s: folder %s is not writable (%s)", path, dir, strerror(errno));
    free(dir);
    return st;
}

/* Temporary files of atomic writes in progress, for mg_remove_temp_files() (called
 * from signal handlers). A slot is 0 (free), 1 (being filled) or 2 (live); slots are
 * taken and filled with atomic operations, so writers on several threads and a signal
 * handler never see a half-written path as live. Paths too long for a slot are not
 * tracked (they are still removed on every normal error path). */
#define LIVE_TEMPS 32
static char g_live_path[LIVE_TEMPS][1024];
static int g_live_state[LIVE_TEMPS];

/* Returns 1 + the slot, or 0 when not tracked. */
static int live_add(const char *tmp_path) {
    size_t n = strlen(tmp_path);
    if (n >= sizeof g_live_path[0])
        return 0;
    for (int i = 0; i < LIVE_TEMPS; i++) {
        int expected = 0;
        if (__atomic_compare_exchange_n(&g_live_state[i], &expected, 1, 0, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED)) {
            memcpy(g_live_path[i], tmp_path, n + 1);
            __atomic_store_n(&g_live_state[i], 2, __ATOMIC_RELEASE);
            return i + 1;
        }
    }
    return 0;
}

static void live_remove(int live) {
    if (live >= 1 && live <= LIVE_TEMPS)
        __atomic_store_n(&g_live_state[live - 1], 0, __ATOMIC_RELEASE);
}

MG_API void mg_remove_temp_files(void) {
    for (int i = 0; i < LIVE_TEMPS; i++)
        if (__atomic_load_n(&g_live_state[i], __ATOMIC_ACQUIRE) == 2)
            unlink(g_live_path[i]);
}

#define MG_ATOMIC_WRITE_BUFFER ((size_t)4 << 20)

mg_status mg_atomic_open(mg_atomic_file *af, const char *path, int overwrite) {
    memset(af, 0, sizeof *af);
    af->fd = -1;
    /* An output that is a symbolic link: write the file it points to (renaming over the
     * link would replace the link itself, /dev/stdout included). */
    struct stat lst;
    char *target = NULL;
    if (lstat(path, &lst) == 0 && S_ISLNK(lst.st_mode) && !(target = realpath(path, NULL)))
        return mg_fail(MG_ERR_INVALID_ARG, "output %s is a symbolic link that leads nowhere (%s); give a file name",
                       path, strerror(errno));
    if (target)
        path = target;
    mg_status checked = mg_check_output_path(path, overwrite);
    if (checked != MG_OK) {
        free(target);
        return checked;
    }
    af->path = mg_strdup(path);
    free(target);
    if (!af->path) {
        mg_atomic_abort(af);
        return MG_ERR_NOMEM;
    }
    path = af->path; /* target is gone: from here on, the resolved path */
    size_t n = strlen(path) + 32;
    af->tmp_path = mg_malloc(n, "a path");
    if (!af->path || !af->tmp_path) {
        mg_atomic_abort(af);
        return MG_ERR_NOMEM;
    }
    /* Hidden temporary name in the same folder so rename() is atomic. */
    char *dir = parent_dir(path);
    char *copy = mg_strdup(path);
    if (!dir || !copy) {
        free(dir);
        free(copy);
        mg_atomic_abort(af);
        return MG_ERR_NOMEM;
    }
    snprintf(af->tmp_path, n, "%s/.%s.partXXXXXX", dir, basename(copy));
    free(dir);
    free(copy);
    /* A signal between creating the file and registering it would leave it behind:
     * hold SIGINT / SIGTERM / SIGHUP back for those two calls. */
    sigset_t hold, old;
    sigemptyset(&hold);
    sigaddset(&hold, SIGINT);
    sigaddset(&hold, SIGTERM);
    sigaddset(&hold, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &hold, &old);
    af->fd = mkstemp(af->tmp_path);
    if (af->fd >= 0)
        af->live = live_add(af->tmp_path);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (af->fd < 0) {
        mg_status st = mg_fail(MG_ERR_IO, "cannot create %s: %s", path, strerror(errno));
        free(af->tmp_path);
        af->tmp_path = NULL;
        mg_atomic_abort(af);
        return st;
    }
    fchmod(af->fd, 0644 & ~0);
    af->fp = fdopen(af->fd, "wb");
    if (!af->fp) {
        mg_status st = mg_fail(MG_ERR_IO, "cannot open %s: %s", af->tmp_path, strerror(errno));
        mg_atomic_abort(af);
        return st;
    }
    if ((af->iobuf = malloc(MG_ATOMIC_WRITE_BUFFER)) != NULL)
        setvbuf(af->fp, af->iobuf, _IOFBF, MG_ATOMIC_WRITE_BUFFER);
    return MG_OK;
}

mg_status mg_atomic_commit(mg_atomic_file *af, int overwrite) {
    mg_status st = MG_OK;
    if (af->fp) {
        if (fflush(af->fp) != 0 || ferror(af->fp))
            st = mg_fail(MG_ERR_IO, "cannot write %s: %s", af->path, strerror(errno));
        if (fclose(af->fp) != 0 && st == MG_OK)
            st = mg_fail(MG_ERR_IO, "cannot write %s: %s", af->path, strerror(errno));
        af->fp = NULL;
        af->fd = -1;
        free(af->iobuf);
        af->iobuf = NULL;
    } else if (af->fd >= 0) {
        if (close(af->fd) != 0)
            st = mg_fail(MG_ERR_IO, "cannot write %s: %s", af->path, strerror(errno));
        af->fd = -1;
    }
    if (st == MG_OK) {
        if (!overwrite) {
            /* link() fails if the target appeared meanwhile: never clobber. */
            if (link(af->tmp_path, af->path) != 0) {
                int e = errno;
                if (e == EEXIST)
                    st = mg_fail(MG_ERR_EXISTS, "output %s already exists", af->path);
                else if (e != EPERM && e != ENOTSUP && e != EXDEV)
                    st = mg_fail(MG_ERR_IO, "cannot create %s: %s", af->path, strerror(e));
                else if (mg_path_exists(af->path)) /* no hard links here: check, then rename */
                    st = mg_fail(MG_ERR_EXISTS, "output %s already exists", af->path);
                else if (rename(af->tmp_path, af->path) != 0)
                    st = mg_fail(MG_ERR_IO, "cannot create %s: %s", af->path, strerror(errno));
            }
            unlink(af->tmp_path);
        } else if (!mg_path_is_file_or_absent(af->path)) { /* it changed since mg_atomic_open */
            st = not_a_file_output(af->path);
        } else if (rename(af->tmp_path, af->path) != 0) {
            st = mg_fail(MG_ERR_IO, "cannot create %s: %s", af->path, strerror(errno));
        }
    }
    if (st != MG_OK)
        unlink(af->tmp_path);
    live_remove(af->live);
    af->live = 0;
    free(af->tmp_path);
    free(af->path);
    af->tmp_path = af->path = NULL;
    return st;
}

void mg_atomic_abort(mg_atomic_file *af) {
    if (af->fp)
        fclose(af->fp);
    else if (af->fd >= 0)
        close(af->fd);
    free(af->iobuf);
    af->iobuf = NULL;
    if (af->tmp_path)
        unlink(af->tmp_path);
    live_remove(af->live);
    free(af->tmp_path);
    free(af->path);
    memset(af, 0, sizeof *af);
    af->fd = -1;
}
