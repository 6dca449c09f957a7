/* audio_read.c — read an audio file (or an in-memory file) into interleaved float PCM.
 *
 * Everything is decoded by libsndfile (WAV, FLAC, Ogg Vorbis/Opus, MP3, AIFF, ... as
 * the installed build supports), from a path or through sf_open_virtual over a memory
 * buffer (the fuzzing entry point). What this file adds are the checks that make bad
 * input fail with a clear message instead of a crash or an absurd allocation: missing
 * / empty / non-audio files, implausible sample rates and channel counts, files longer
 * than an hour, headers that announce more frames than the file holds (we keep what
 * was actually decoded and never trust the announced size for allocation), and
 * non-finite samples. Resampling and channel mixing live in audio_dsp.c.
 */
#include "io/audio.h"

#include "base/log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sndfile.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define READ_CHUNK_FRAMES 65536

void mg_audio_free(mg_audio *a) {
    if (!a)
        return;
    free(a->pcm);
    memset(a, 0, sizeof *a);
}

/* ---- in-memory virtual file ------------------------------------------------------- */

typedef struct mem_file {
    const unsigned char *data;
    sf_count_t size, pos;
} mem_file;

static sf_count_t mem_length(void *user) { return ((mem_file *)user)->size; }

static sf_count_t mem_seek(sf_count_t offset, int whence, void *user) {
    mem_file *m = user;
    sf_count_t base = whence == SEEK_SET ? 0 : whence == SEEK_CUR ? m->pos : m->size;
    if ((offset > 0 && base > INT64_MAX - offset) || base + offset < 0)
        return -1;
    m->pos = base + offset;
    return m->pos;
}

static sf_count_t mem_read(void *ptr, sf_count_t count, void *user) {
    mem_file *m = user;
    if (count <= 0 || m->pos >= m->size)
        return 0;
    sf_count_t n = m->size - m->pos < count ? m->size - m->pos : count;
    memcpy(ptr, m->data + m->pos, (size_t)n);
    m->pos += n;
    return n;
}

static sf_count_t mem_write(const void *ptr, sf_count_t count, void *user) {
    (void)ptr, (void)count, (void)user;
    return 0;
}

static sf_count_t mem_tell(void *user) { return ((mem_file *)user)->pos; }

/* ---- RIFF/WAVE metadata check ------------------------------------------------------------
 *
 * libsndfile 1.2.0 loops forever on WAV files whose LIST (or INFO) chunk holds an
 * entry whose size, added to the bytes read so far, wraps around 2^32 (found by
 * fuzz_audio): its sub-chunk parser (wavlike_subchunk_parse) then seeks backwards and
 * reads the same entry again, without any I/O that a callback could stop. So before
 * a RIFF / RIFX / RF64 WAVE file goes to libsndfile, its top-level chunks are walked (a few
 * 8-byte reads) and every LIST / INFO chunk is parsed the way libsndfile parses it:
 * entries are a 4-byte marker and, except INFO / adtl, a 4-byte size padded to even;
 * a zero or "data" marker ends it. A size that would wrap is refused. The walk goes
 * on from where libsndfile's parser leaves the file, which can be past the end the
 * LIST chunk declares (its last entry's header may overrun it). Everything else is
 * left to libsndfile (which clamps chunks that run past the end of a truncated
 * file). */

typedef struct byte_source {
    const unsigned char *mem; /* whole file in memory, or NULL: read from fd */
    int fd;
    int64_t size;
    int big_endian; /* RIFX */
} byte_source;

static int source_read(const byte_source *b, int64_t pos, void *dst, size_t n) {
    if (pos < 0 || pos > b->size || (int64_t)n > b->size - pos)
        return 0;
    if (b->mem) {
        memcpy(dst, b->mem + pos, n);
        return 1;
    }
    return pread(b->fd, dst, n, (off_t)pos) == (ssize_t)n;
}

static uint32_t u32(const byte_source *b, const unsigned char *p) {
    if (b->big_endian)
        return (uint32_t)p[3] | (uint32_t)p[2] << 8 | (uint32_t)p[1] << 16 | (uint32_t)p[0] << 24;
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Parses the LIST / INFO chunk whose body starts at `body`, as libsndfile does; sets
 * *consumed to the bytes its parser moves past (at least the declared length, clamped
 * to the file, and more when an entry's header overruns it). */
static mg_status check_list_chunk(const byte_source *b, int64_t body, uint32_t length, const char *where,
                                  uint64_t *consumed) {
    *consumed = length;
    if (length <= 8) /* libsndfile reads a marker and jumps to the declared end */
        return MG_OK;
    int64_t limit = b->size - body; /* libsndfile clamps the chunk to the file */
    uint64_t len = length > limit ? (uint64_t)(limit > 0 ? limit : 0) : length;
    uint64_t done = 0;
    for (int n = 0; done < len && n < 1000000; n++) {
        unsigned char m[4], sz[4];
        if (!source_read(b, body + (int64_t)done, m, 4))
            break;
        done += 4;
        if (!memcmp(m, "INFO", 4) || !memcmp(m, "adtl", 4))
            continue; /* no size follows */
        if (!memcmp(m, "\0\0\0\0", 4) || !memcmp(m, "data", 4) || !memcmp(m, "exif", 4))
            break;
        if (!source_read(b, body + (int64_t)done, sz, 4))
            break;
        done += 4;
        uint32_t size = u32(b, sz);
        size += size & 1; /* 32-bit, as libsndfile computes it */
        if (done + size >= ((uint64_t)1 << 32))
            return mg_fail(MG_ERR_FORMAT, "%s has a corrupt LIST (metadata) chunk: the entry at byte %lld claims %u "
                           "bytes; the file is damaged", where, (long long)(body + (int64_t)done - 8), u32(b, sz));
        if (done + size > len)
            break; /* libsndfile skips the rest of the chunk */
        done += size;
    }
    *consumed = done > len ? done : len;
    return MG_OK;
}

static mg_status check_riff(byte_source *b, const char *where) {
    unsigned char h[12];
    if (!source_read(b, 0, h, 12) || memcmp(h + 8, "WAVE", 4) ||
        (memcmp(h, "RIFF", 4) && memcmp(h, "RIFX", 4) && memcmp(h, "RF64", 4) && memcmp(h, "BW64", 4)))
        return MG_OK; /* not a WAV file: nothing to check */
    b->big_endian = !memcmp(h, "RIFX", 4);
    int64_t pos = 12;
    for (int n = 0; n < 100000 && pos + 8 <= b->size; n++) {
        unsigned char c[8];
        if (!source_read(b, pos, c, 8))
            break;
        uint32_t size = u32(b, c + 4);
        uint64_t consumed = size;
        if (!memcmp(c, "LIST", 4) || !memcmp(c, "INFO", 4))
            MG_TRY(check_list_chunk(b, pos + 8, size, where, &consumed));
        if (pos + 8 + (int64_t)size > b->size)
            break; /* e.g. the data chunk of a truncated file */
        pos += 8 + (int64_t)consumed + (size & 1); /* libsndfile pads by the declared size */
    }
    return MG_OK;
}

/* ---- decoding ------------------------------------------------------------------------ */

static pthread_mutex_t g_sndfile_open = PTHREAD_MUTEX_INITIALIZER;
void mg_sndfile_open_lock(void) { pthread_mutex_lock(&g_sndfile_open); }
void mg_sndfile_open_unlock(void) { pthread_mutex_unlock(&g_sndfile_open); }

static mg_status open_error(const char *where) {
    int err = sf_error(NULL);
    const char *msg = sf_strerror(NULL);
    /* libsndfile says this of regular files whose decoder gave up (a broken MP3, say);
     * mg_audio_read only opens regular files, so it would mislead. */
    if (strstr(msg, "does not exist or is not a regular file"))
        msg = "its decoder could not make sense of the data";
    switch (err) {
    case SF_ERR_UNRECOGNISED_FORMAT:
        return mg_fail(MG_ERR_FORMAT,
                       "%s is not an audio file libsndfile can read (WAV, FLAC, Ogg, MP3, AIFF, ...): %s", where, msg);
    case SF_ERR_UNSUPPORTED_ENCODING:
        return mg_fail(MG_ERR_UNSUPPORTED, "%s uses an audio encoding libsndfile cannot decode: %s", where, msg);
    case SF_ERR_SYSTEM:
        return mg_fail(MG_ERR_IO, "cannot open %s: %s", where, msg);
    default:
        return mg_fail(MG_ERR_FORMAT, "%s is not a readable audio file: %s", where, msg);
    }
}

static mg_status check_stream_info(const SF_INFO *info, const char *where) {
    if (info->channels < 1 || info->channels > MG_AUDIO_MAX_CHANNELS)
        return mg_fail(MG_ERR_UNSUPPORTED, "%s has %d channels; at most %d are supported", where, info->channels,
                       MG_AUDIO_MAX_CHANNELS);
    if (info->samplerate < MG_AUDIO_MIN_RATE || info->samplerate > MG_AUDIO_MAX_RATE)
        return mg_fail(MG_ERR_FORMAT, "%s claims a sample rate of %d Hz; only %d to %d Hz is plausible audio", where,
                       info->samplerate, MG_AUDIO_MIN_RATE, MG_AUDIO_MAX_RATE);
    if (info->frames == 0)
        return mg_fail(MG_ERR_FORMAT, "%s contains no audio (0 frames)", where);
    return MG_OK;
}

static mg_status too_long(const char *where, int64_t frames, int rate, int64_t max_frames) {
    double secs = (double)frames / rate;
    if (max_frames < (int64_t)MG_AUDIO_MAX_SECONDS * rate)
        return mg_fail(MG_ERR_UNSUPPORTED, "%s is too large: %lld frames (limit %lld frames for this channel count)",
                       where, (long long)frames, (long long)max_frames);
    return mg_fail(MG_ERR_UNSUPPORTED, "%s is %.0f s long; at most %d s (1 hour) can be read, cut it first", where,
                   secs, MG_AUDIO_MAX_SECONDS);
}

/* Decode everything `sf` holds. Memory grows with what is actually decoded, so a header
 * announcing a huge length costs nothing. */
static mg_status decode_all(SNDFILE *sf, const SF_INFO *info, const char *where, int64_t max_samples,
                            mg_audio *out) {
    MG_TRY(check_stream_info(info, where));
    const int ch = info->channels;
    int64_t max_frames = (int64_t)MG_AUDIO_MAX_SECONDS * info->samplerate;
    if (max_frames > max_samples / ch)
        max_frames = max_samples / ch;
    int64_t announced = info->frames; /* may be SF_COUNT_MAX when unknown */
    if (announced > max_frames && announced != SF_COUNT_MAX)
        return too_long(where, announced, info->samplerate, max_frames);

    int64_t cap = announced > 0 && announced < READ_CHUNK_FRAMES ? announced : READ_CHUNK_FRAMES;
    float *pcm = mg_malloc((size_t)cap * (size_t)ch * sizeof *pcm, where);
    if (!pcm)
        return MG_ERR_NOMEM;
    int64_t total = 0;
    for (;;) {
        if (total == cap) {
            if (cap > max_frames) {
                free(pcm);
                return too_long(where, total, info->samplerate, max_frames);
            }
            int64_t grown = cap * 2 < max_frames + 1 ? cap * 2 : max_frames + 1;
            float *p = realloc(pcm, (size_t)grown * (size_t)ch * sizeof *pcm);
            if (!p) {
                free(pcm);
                return mg_fail(MG_ERR_NOMEM, "out of memory reading %s", where);
            }
            pcm = p, cap = grown;
        }
        int64_t want = cap - total < READ_CHUNK_FRAMES ? cap - total : READ_CHUNK_FRAMES;
        sf_count_t got = sf_readf_float(sf, pcm + total * ch, want);
        if (got <= 0)
            break;
        total += got;
    }
    if (total > max_frames) {
        free(pcm);
        return too_long(where, total, info->samplerate, max_frames);
    }
    if (sf_error(sf) != SF_ERR_NO_ERROR && total < announced) {
        mg_status st = mg_fail(MG_ERR_FORMAT, "%s: decoding failed after %lld of %lld frames: %s", where,
                               (long long)total, (long long)announced, sf_strerror(sf));
        free(pcm);
        return st;
    }
    if (total == 0) {
        free(pcm);
        return mg_fail(MG_ERR_FORMAT, "%s contains no audio (0 frames could be decoded)", where);
    }
    int64_t bad = mg_audio_first_non_finite(pcm, total * ch);
    if (bad >= 0) {
        free(pcm);
        return mg_fail(MG_ERR_FORMAT, "%s holds a non-finite sample (NaN or Inf) at frame %lld", where,
                       (long long)(bad / ch));
    }
    if (announced != SF_COUNT_MAX && total < announced)
        mg_log_warn("%s: the header announces %lld frames but only %lld could be read; using those", where,
                    (long long)announced, (long long)total);
    if (total < cap) {
        float *p = realloc(pcm, (size_t)total * (size_t)ch * sizeof *pcm);
        if (p)
            pcm = p;
    }
    out->pcm = pcm;
    out->n_frames = total;
    out->channels = ch;
    out->sample_rate = info->samplerate;
    return MG_OK;
}

mg_status mg_audio_read(const char *path, mg_audio *out) {
    memset(out, 0, sizeof *out);
    if (!path || !path[0])
        return mg_fail(MG_ERR_INVALID_ARG, "no audio file name given");
    struct stat st;
    if (stat(path, &st) != 0)
        return mg_fail(errno == ENOENT ? MG_ERR_NOT_FOUND : MG_ERR_IO, "cannot open audio file %s: %s", path,
                       strerror(errno));
    if (S_ISDIR(st.st_mode))
        return mg_fail(MG_ERR_IO, "%s is a folder, expected an audio file", path);
    /* A FIFO or device could block forever (nobody writing) or never end. */
    if (!S_ISREG(st.st_mode))
        return mg_fail(MG_ERR_IO, "%s is not a regular file (a pipe or a device?); save the audio to a file first", path);
    if (st.st_size == 0)
        return mg_fail(MG_ERR_FORMAT, "audio file %s is empty (0 bytes)", path);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        byte_source src = {NULL, fd, (int64_t)st.st_size, 0};
        mg_status cs = check_riff(&src, path);
        close(fd);
        if (cs != MG_OK)
            return cs;
    }
    SF_INFO info;
    memset(&info, 0, sizeof info);
    mg_sndfile_open_lock();
    SNDFILE *sf = sf_open(path, SFM_READ, &info);
    mg_status opened = sf ? MG_OK : open_error(path);
    mg_sndfile_open_unlock();
    if (!sf)
        return opened;
    mg_status s = decode_all(sf, &info, path, MG_AUDIO_MAX_SAMPLES, out);
    sf_close(sf);
    return s;
}

mg_status mg_audio_read_memory(const void *data, size_t size, const char *where, int64_t max_samples,
                               mg_audio *out) {
    memset(out, 0, sizeof *out);
    if (!where)
        where = "audio data";
    if (!data || size == 0)
        return mg_fail(MG_ERR_FORMAT, "%s is empty (0 bytes)", where);
    if (max_samples <= 0 || max_samples > MG_AUDIO_MAX_SAMPLES)
        max_samples = MG_AUDIO_MAX_SAMPLES;
    byte_source src = {data, -1, (int64_t)size, 0};
    MG_TRY(check_riff(&src, where));
    mem_file m = {data, (sf_count_t)size, 0};
    SF_VIRTUAL_IO io = {mem_length, mem_seek, mem_read, mem_write, mem_tell};
    SF_INFO info;
    memset(&info, 0, sizeof info);
    mg_sndfile_open_lock();
    SNDFILE *sf = sf_open_virtual(&io, SFM_READ, &info, &m);
    mg_status opened = sf ? MG_OK : open_error(where);
    mg_sndfile_open_unlock();
    if (!sf)
        return opened;
    mg_status s = decode_all(sf, &info, where, max_samples, out);
    sf_close(sf);
    return s;
}
