/* wav_stream.h — streaming WAV (or raw PCM) output to a FILE* such as stdout.
 *
 * The one place the project writes a WAV header by hand: when the total length is not
 * known up front (a pipe), the RIFF and data sizes are 0xFFFFFFFF, as sox and ffmpeg
 * write to pipes, followed by raw little-endian PCM. Readers that stream (sox, ffmpeg,
 * most players) read until the end of the data. Files with known length are written
 * with libsndfile instead (audio.h).
 *
 * Header (44 bytes, all little-endian):
 *   "RIFF" 0xFFFFFFFF "WAVE" "fmt " 16  format(1 = PCM, 3 = IEEE float)  channels
 *   rate  byte_rate  block_align  bits  "data" 0xFFFFFFFF
 * Raw mode writes only the samples.
 *
 * The API is public (musicgen.h: mg_wav_stream_begin / _write / _end) so the CLI can
 * use it; this header adds the pieces tests need.
 */
#ifndef MG_IO_WAV_STREAM_H
#define MG_IO_WAV_STREAM_H

#include "base/status.h"

#include <stdint.h>
#include <stdio.h>

#define MG_WAV_STREAM_HEADER_SIZE 44

/* Fill the 44-byte streaming header for this rate / channel count / sample format. */
mg_status mg_wav_stream_header(uint8_t out[MG_WAV_STREAM_HEADER_SIZE], int rate, int channels, mg_sample_format fmt);

#endif
