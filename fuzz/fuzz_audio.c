/* fuzz_audio.c — libFuzzer entry point for the audio reader (src/io/audio_read.c).
 *
 * Bytes go through mg_audio_read_memory (libsndfile's sf_open_virtual over the buffer),
 * which also exercises our checks of rates, channel counts, lengths and non-finite
 * samples. libsndfile itself is not instrumented, so this finds bugs in our code and
 * crashes (not overreads) in libsndfile. The sample cap is lowered to 4M samples so
 * tiny compressed inputs cannot decode into gigabytes. Successful reads are then fed
 * through the channel conversion and resampler, which must accept any decoded audio.
 * Built by fuzz/build.sh (clang, libFuzzer + ASan + UBSan); run with
 * `fuzz/run.sh SECONDS audio`, which also makes the seed corpus from the fixtures
 * (fuzz/make_seeds.py). See docs/hardening.md.
 * The suppressions in fuzz/lsan_libs.supp hide a leak inside libvorbis/libsndfile on
 * malformed Ogg input. Since the system libsndfile carries no coverage
 * instrumentation, the fuzzer only sees our code's edges: it mutates blindly inside
 * the decoders.
 */
#include "io/audio.h"

#include <math.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    mg_audio a;
    if (mg_audio_read_memory(data, size, "fuzz.audio", (int64_t)1 << 22, &a) != MG_OK)
        return 0;
    if (a.n_frames <= 0 || a.channels < 1 || a.channels > MG_AUDIO_MAX_CHANNELS || !a.pcm)
        abort();
    for (int64_t i = 0; i < a.n_frames * a.channels; i++)
        if (!isfinite(a.pcm[i]))
            abort();
    if (a.n_frames <= 200000) { /* keep iterations fast */
        if (mg_audio_convert_channels(&a, 1) != MG_OK || mg_audio_resample(&a, 16000) != MG_OK)
            abort();
    }
    mg_audio_free(&a);
    return 0;
}
