/* audio_write.c — write interleaved float PCM to .wav / .flac / .ogg / .mp3 with
 * libsndfile.
 *
 * The container follows the file extension; the sample format is s16 (default), s24
 * or f32 (WAV only; FLAC stores integers; Ogg Vorbis and MP3, libsndfile's LAME
 * encoder, are lossy and ignore it).
 * Integer formats clip samples beyond [-1, 1] and count them (scale 32767 / 8388607,
 * as libsndfile and soundfile use); f32 writes samples unchanged. Title / comment /
 * software tags go through sf_set_string (LIST/INFO chunks in WAV, Vorbis comments in
 * FLAC and Ogg, ID3v2 in MP3: Latin-1 there, other characters '?', and the software
 * tag is LAME's own), each cut to 2000 bytes: libsndfile silently drops longer WAV INFO
 * strings when reading.
 *
 * Output is atomic: libsndfile writes through virtual I/O into a hidden temporary file
 * next to the target (base/file.h mg_atomic_*), every write is checked (a full disk
 * anywhere, including the final header update, fails the whole write), the data is
 * fsync'ed, and only then is the file renamed into place. No partial file remains.
 * Not here: any hand-written container code (the streaming WAV writer is wav_stream.c).
 */
#include "io/audio.h"

#include "base/file.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <sndfile.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define WRITE_CHUNK_FRAMES 4096

typedef struct container {
    const char *ext;
    int major;
    const char *name;
} container;

static const container g_containers[] = {
    {"wav", SF_FORMAT_WAV, "WAV"},
    {"flac", SF_FORMAT_FLAC, "FLAC"},
    {"ogg", SF_FORMAT_OGG, "Ogg Vorbis"},
    {"mp3", SF_FORMAT_MPEG, "MP3"},
};
#define SUPPORTED_EXTENSIONS ".wav, .flac, .ogg (Ogg Vorbis), .mp3"

/* Lossy containers take float samples whatever the sample format says. */
static int is_lossy(int major) { return major == SF_FORMAT_OGG || major == SF_FORMAT_MPEG; }

/* The rates MPEG-1, 2 and 2.5 Layer III define (libsndfile refuses others at open). */
static int mp3_rate_ok(int rate) {
    static const int rates[] = {8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000};
    for (size_t i = 0; i < sizeof rates / sizeof rates[0]; i++)
        if (rate == rates[i])
            return 1;
    return 0;
}

static const char *format_name(int fmt) {
    return fmt == MG_SAMPLE_S16 ? "s16" : fmt == MG_SAMPLE_S24 ? "s24" : fmt == MG_SAMPLE_F32 ? "f32" : "unknown";
}

static const container *container_for(const char *path) {
    const char *slash = strrchr(path, '/');
    const char *dot = strrchr(slash ? slash + 1 : path, '.');
    if (!dot)
        return NULL;
    char ext[8];
    size_t n = strlen(dot + 1);
    if (n == 0 || n >= sizeof ext)
        return NULL;
    for (size_t i = 0; i <= n; i++)
        ext[i] = (char)tolower((unsigned char)dot[1 + i]);
    for (size_t i = 0; i < sizeof g_containers / sizeof g_containers[0]; i++)
        if (!strcmp(ext, g_containers[i].ext))
            return &g_containers[i];
    return NULL;
}

static const mg_audio_write_opts *opts_or_default(const mg_audio_write_opts *opts) {
    static const mg_audio_write_opts defaults = {MG_SAMPLE_S16, 0, NULL, NULL, NULL};
    return opts ? opts : &defaults;
}

/* Choose the libsndfile format for `path` and check the combination is writable. */
static mg_status choose_format(const char *path, int fmt, int channels, int rate, int64_t n_frames, SF_INFO *info,
                               const container **out_c) {
    const container *c = container_for(path);
    if (!c) {
        const char *slash = strrchr(path, '/');
        const char *dot = strrchr(slash ? slash + 1 : path, '.');
        return mg_fail(MG_ERR_INVALID_ARG,
                       "cannot write %s: %s%s%s; supported: " SUPPORTED_EXTENSIONS, path,
                       dot ? "unknown audio extension '" : "no file extension to choose the format",
                       dot ? dot : "", dot ? "'" : "");
    }
    if (fmt != MG_SAMPLE_S16 && fmt != MG_SAMPLE_S24 && fmt != MG_SAMPLE_F32)
        return mg_fail(MG_ERR_INVALID_ARG, "cannot write %s: unknown sample format %d (s16, s24 or f32)", path, fmt);
    if (channels < 1 || channels > MG_AUDIO_MAX_CHANNELS)
        return mg_fail(MG_ERR_INVALID_ARG, "cannot write %s: %d channels (1 to %d supported)", path, channels,
                       MG_AUDIO_MAX_CHANNELS);
    if (rate < MG_AUDIO_MIN_RATE || rate > MG_AUDIO_MAX_RATE)
        return mg_fail(MG_ERR_INVALID_ARG, "cannot write %s: sample rate %d Hz (%d to %d Hz supported)", path, rate,
                       MG_AUDIO_MIN_RATE, MG_AUDIO_MAX_RATE);
    if (c->major == SF_FORMAT_MPEG && channels > 2)
        return mg_fail(MG_ERR_UNSUPPORTED, "cannot write %s: MP3 stores mono or stereo (got %d channels); use .wav, .flac "
                       "or .ogg", path, channels);
    if (c->major == SF_FORMAT_MPEG && !mp3_rate_ok(rate))
        return mg_fail(MG_ERR_UNSUPPORTED, "cannot write %s: MP3 takes 8000, 11025, 12000, 16000, 22050, 24000, 32000, "
                       "44100 or 48000 Hz (got %d); use .wav, .flac or .ogg", path, rate);
    int sub;
    if (c->major == SF_FORMAT_OGG) {
        sub = SF_FORMAT_VORBIS;
    } else if (c->major == SF_FORMAT_MPEG) {
        sub = SF_FORMAT_MPEG_LAYER_III;
    } else if (fmt == MG_SAMPLE_F32) {
        if (c->major == SF_FORMAT_FLAC)
            return mg_fail(MG_ERR_UNSUPPORTED,
                           "cannot write %s: FLAC cannot store 32-bit float samples; use s16 or s24, or write .wav",
                           path);
        sub = SF_FORMAT_FLOAT;
    } else {
        sub = fmt == MG_SAMPLE_S24 ? SF_FORMAT_PCM_24 : SF_FORMAT_PCM_16;
    }
    int major = c->major;
    if (major == SF_FORMAT_WAV) {
        /* Classic RIFF sizes are 32-bit: switch to RF64 only when the data needs it. */
        int bytes = sub == SF_FORMAT_PCM_16 ? 2 : sub == SF_FORMAT_PCM_24 ? 3 : 4;
        if ((double)n_frames * channels * bytes > 4294967295.0 - (1 << 20))
            major = SF_FORMAT_RF64;
    }
    memset(info, 0, sizeof *info);
    info->samplerate = rate;
    info->channels = channels;
    info->format = major | sub;
    int writable = sf_format_check(info);
    if (!writable && c->major == SF_FORMAT_MPEG)
        return mg_fail(MG_ERR_UNSUPPORTED, "cannot write %s: this libsndfile was built without MP3 encoding (LAME); "
                       "write .wav, .flac or .ogg", path);
    if (!writable)
        return mg_fail(MG_ERR_UNSUPPORTED, "cannot write %s: %s cannot store %d channels of %s at %d Hz", path,
                       c->name, channels, is_lossy(c->major) ? "audio" : format_name(fmt), rate);
    if (c->major == SF_FORMAT_FLAC && (channels > 8 || rate > 655350))
        return mg_fail(MG_ERR_UNSUPPORTED, "cannot write %s: FLAC stores at most 8 channels at up to 655350 Hz", path);
    /* libFLAC's encoder (the streamable subset libsndfile asks for) takes rates above
     * 65535 Hz only in whole tens of Hz; libsndfile's own error then blamed a decoder. */
    if (c->major == SF_FORMAT_FLAC && rate > 65535 && rate % 10)
        return mg_fail(MG_ERR_UNSUPPORTED, "cannot write %s: FLAC stores rates above 65535 Hz only in steps of 10 Hz "
                       "(got %d)", path, rate);
    if (c->major == SF_FORMAT_OGG && channels > 8)
        return mg_fail(MG_ERR_UNSUPPORTED, "cannot write %s: Ogg Vorbis is limited to 8 channels here; use .wav", path);
    if (c->major == SF_FORMAT_OGG && rate > 192000) /* libvorbis's encoder setup fails above */
        return mg_fail(MG_ERR_UNSUPPORTED, "cannot write %s: Ogg Vorbis takes at most 192000 Hz (got %d); use .wav or .flac",
                       path, rate);
    if (out_c)
        *out_c = c;
    return MG_OK;
}

mg_status mg_audio_check_output(const char *path, const mg_audio_write_opts *opts, int channels, int rate) {
    if (!path || !path[0])
        return mg_fail(MG_ERR_INVALID_ARG, "no output file name given");
    opts = opts_or_default(opts);
    SF_INFO info;
    MG_TRY(choose_format(path, opts->format, channels, rate, 0, &info, NULL));
    return mg_check_output_path(path, opts->overwrite);
}

/* ---- virtual I/O over the temporary file's descriptor, with a sticky error --------- */

typedef struct fd_sink {
    int fd;
    int err; /* first errno of a failed or short write / seek */
} fd_sink;

static sf_count_t sink_length(void *user) {
    struct stat st;
    return fstat(((fd_sink *)user)->fd, &st) == 0 ? (sf_count_t)st.st_size : -1;
}

static sf_count_t sink_seek(sf_count_t offset, int whence, void *user) {
    fd_sink *s = user;
    off_t r = lseek(s->fd, (off_t)offset, whence);
    if (r < 0 && !s->err)
        s->err = errno;
    return (sf_count_t)r;
}

static sf_count_t sink_read(void *ptr, sf_count_t count, void *user) {
    fd_sink *s = user;
    sf_count_t done = 0;
    while (done < count) {
        ssize_t r = read(s->fd, (char *)ptr + done, (size_t)(count - done));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        done += r;
    }
    return done;
}

static sf_count_t sink_write(const void *ptr, sf_count_t count, void *user) {
    fd_sink *s = user;
    sf_count_t done = 0;
    while (done < count) {
        ssize_t r = write(s->fd, (const char *)ptr + done, (size_t)(count - done));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            if (!s->err)
                s->err = r < 0 ? errno : ENOSPC;
            break;
        }
        done += r;
    }
    return done;
}

static sf_count_t sink_tell(void *user) { return (sf_count_t)lseek(((fd_sink *)user)->fd, 0, SEEK_CUR); }

/* ---- sample conversion -------------------------------------------------------------- */

static inline float clip_unit(float x, int64_t *clipped) {
    if (x > 1.0f) {
        (*clipped)++;
        return 1.0f;
    }
    if (x < -1.0f) {
        (*clipped)++;
        return -1.0f;
    }
    if (x != x) { /* NaN: silence, and say so through the count */
        (*clipped)++;
        return 0.0f;
    }
    return x;
}

/* Write one chunk of n frames in the file's sample format. Returns frames written. */
static sf_count_t write_chunk(SNDFILE *sf, int sub, const float *x, int64_t n, int channels, void *scratch,
                              int64_t *clipped) {
    int64_t ns = n * channels;
    if (sub == SF_FORMAT_FLOAT)
        return sf_writef_float(sf, x, n);
    if (sub == SF_FORMAT_PCM_16) {
        short *s = scratch;
        for (int64_t i = 0; i < ns; i++)
            s[i] = (short)lrintf(clip_unit(x[i], clipped) * 32767.0f);
        return sf_writef_short(sf, s, n);
    }
    if (sub == SF_FORMAT_PCM_24) { /* libsndfile takes the top 24 bits of an int */
        int *s = scratch;
        for (int64_t i = 0; i < ns; i++)
            s[i] = (int)lrint((double)clip_unit(x[i], clipped) * 8388607.0) * 256;
        return sf_writef_int(sf, s, n);
    }
    float *f = scratch; /* Vorbis, MP3: float, clipped so decoders to integers do not wrap */
    for (int64_t i = 0; i < ns; i++)
        f[i] = clip_unit(x[i], clipped);
    return sf_writef_float(sf, f, n);
}

/* Length of the well-formed UTF-8 character at s (1-4 bytes, no overlong forms,
 * surrogates or code points past U+10FFFF), or 0 if there is none. */
static int utf8_char_len(const unsigned char *s) {
    unsigned c = s[0];
    if (c < 0x80)
        return 1;
    int n = c >= 0xC2 && c <= 0xDF ? 2 : c >= 0xE0 && c <= 0xEF ? 3 : c >= 0xF0 && c <= 0xF4 ? 4 : 0;
    for (int i = 1; i < n; i++)
        if ((s[i] & 0xC0) != 0x80)
            return 0;
    if ((c == 0xE0 && s[1] < 0xA0) || (c == 0xED && s[1] >= 0xA0) || (c == 0xF0 && s[1] < 0x90) ||
        (c == 0xF4 && s[1] >= 0x90))
        return 0;
    return n;
}

/* A tag as stored: at most MG_AUDIO_MAX_TAG_BYTES, never cut inside a character, and
 * every byte that is not part of well-formed UTF-8 replaced by '?'. Vorbis comments
 * (FLAC, Ogg) must be UTF-8, and libsndfile's FLAC writer goes on with an
 * uninitialised entry when libFLAC refuses one. */
static void clean_tag(const char *s, char out[MG_AUDIO_MAX_TAG_BYTES + 1]) {
    const unsigned char *u = (const unsigned char *)s;
    size_t o = 0;
    while (*u) {
        int n = utf8_char_len(u);
        if (o + (n ? (size_t)n : 1) > MG_AUDIO_MAX_TAG_BYTES)
            break;
        if (n) {
            memcpy(out + o, u, (size_t)n);
            o += (size_t)n;
            u += n;
        } else {
            out[o++] = '?';
            u++;
        }
    }
    out[o] = 0;
}

/* Well-formed UTF-8 (clean_tag's output) to ISO-8859-1 in place: what LAME's ID3 tags
 * take (libsndfile hands them over as Latin-1 and reads them back as UTF-8).
 * Characters beyond U+00FF become '?'. */
static void utf8_to_latin1(char *s) {
    const unsigned char *u = (const unsigned char *)s;
    char *out = s;
    while (*u) {
        int n = utf8_char_len(u);
        unsigned cp = n == 1 ? u[0] : n == 2 ? ((u[0] & 0x1Fu) << 6) | (u[1] & 0x3Fu) : 0x100;
        *out++ = cp <= 0xFF ? (char)cp : '?';
        u += n ? n : 1;
    }
    *out = 0;
}

static mg_status set_tags(SNDFILE *sf, const mg_audio_write_opts *o, const char *path, int latin1) {
    struct {
        int id;
        const char *value, *name;
    } tags[] = {{SF_STR_TITLE, o->title, "title"},
                {SF_STR_COMMENT, o->comment, "comment"},
                {SF_STR_SOFTWARE, o->software, "software"}};
    for (size_t i = 0; i < sizeof tags / sizeof tags[0]; i++) {
        if (!tags[i].value || !tags[i].value[0])
            continue;
        char value[MG_AUDIO_MAX_TAG_BYTES + 1];
        clean_tag(tags[i].value, value);
        if (latin1)
            utf8_to_latin1(value);
        if (sf_set_string(sf, tags[i].id, value) != 0)
            return mg_fail(MG_ERR_INVALID_ARG, "cannot store the %s tag in %s: %s", tags[i].name, path,
                           sf_strerror(sf));
    }
    return MG_OK;
}

static mg_status io_error(const char *path, const fd_sink *sink, const char *what) {
    return mg_fail(MG_ERR_IO, "cannot write %s: %s%s%s", path, what, sink->err ? ": " : "",
                   sink->err ? strerror(sink->err) : "");
}

/* Everything between opening the temporary file and closing it. */
static mg_status write_frames(SNDFILE *sf, int sub, const float *pcm, int64_t n_frames, int channels,
                              const char *path, fd_sink *sink, int64_t *clipped) {
    void *scratch = mg_malloc((size_t)WRITE_CHUNK_FRAMES * (size_t)channels * sizeof(float), path);
    if (!scratch)
        return MG_ERR_NOMEM;
    mg_status st = MG_OK;
    for (int64_t done = 0; done < n_frames;) {
        int64_t n = n_frames - done < WRITE_CHUNK_FRAMES ? n_frames - done : WRITE_CHUNK_FRAMES;
        sf_count_t w = write_chunk(sf, sub, pcm + done * channels, n, channels, scratch, clipped);
        if (w != n || sink->err) {
            st = io_error(path, sink, sink->err ? "write failed" : sf_strerror(sf));
            break;
        }
        done += n;
    }
    free(scratch);
    return st;
}

mg_status mg_audio_write(const char *path, const float *pcm, int64_t n_frames, int channels, int rate,
                         const mg_audio_write_opts *opts, int64_t *n_clipped) {
    if (n_clipped)
        *n_clipped = 0;
    if (!path || !path[0])
        return mg_fail(MG_ERR_INVALID_ARG, "no output file name given");
    opts = opts_or_default(opts);
    if (n_frames <= 0 || !pcm)
        return mg_fail(MG_ERR_INVALID_ARG, "cannot write %s: no audio (%lld frames)", path, (long long)n_frames);
    SF_INFO info;
    const container *c;
    MG_TRY(choose_format(path, opts->format, channels, rate, n_frames, &info, &c));
    if ((double)n_frames > (double)MG_MAX_WRITE_SECONDS * rate)
        return mg_fail(MG_ERR_INVALID_ARG, "cannot write %s: %lld frames is more than 4 hours", path,
                       (long long)n_frames);

    mg_atomic_file af;
    MG_TRY(mg_atomic_open(&af, path, opts->overwrite));
    fd_sink sink = {af.fd, 0};
    SF_VIRTUAL_IO io = {sink_length, sink_seek, sink_read, sink_write, sink_tell};
    mg_sndfile_open_lock();
    SNDFILE *sf = sf_open_virtual(&io, SFM_WRITE, &info, &sink);
    mg_status opened = sf ? MG_OK
                          : mg_fail(MG_ERR_IO, "cannot write %s: libsndfile cannot create a %s file: %s", path, c->name,
                                    sf_strerror(NULL));
    mg_sndfile_open_unlock();
    if (!sf) {
        mg_atomic_abort(&af);
        return opened;
    }
    /* No PEAK chunk in float WAVs: it holds the time of writing, so the same samples
     * would give different files (and players do not need it). */
    sf_command(sf, SFC_SET_ADD_PEAK_CHUNK, NULL, SF_FALSE);
    int64_t clipped = 0;
    mg_status st = set_tags(sf, opts, path, c->major == SF_FORMAT_MPEG);
    if (st == MG_OK)
        st = write_frames(sf, info.format & SF_FORMAT_SUBMASK, pcm, n_frames, channels, path, &sink, &clipped);
    /* sf_close writes the final header sizes (and flushes FLAC / Vorbis / MP3, whose
     * LAME tag goes into the first frame): check it too. */
    int close_err = sf_close(sf);
    if (st == MG_OK && (close_err != 0 || sink.err))
        st = io_error(path, &sink, close_err ? sf_error_number(close_err) : "finishing the file failed");
    if (st == MG_OK && fsync(af.fd) != 0 && errno != EINVAL && errno != EROFS)
        st = mg_fail(MG_ERR_IO, "cannot write %s: %s", path, strerror(errno));
    if (st != MG_OK) {
        mg_atomic_abort(&af);
        return st;
    }
    MG_TRY(mg_atomic_commit(&af, opts->overwrite));
    if (n_clipped)
        *n_clipped = clipped;
    return MG_OK;
}
