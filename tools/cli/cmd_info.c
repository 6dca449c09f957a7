/* cmd_info.c — `musicgen info -m MODEL [--json]`: what a model is (mono/stereo,
 * sizes, codebooks, rates, parameter counts, dtypes). */
#include "cli.h"

#include <stdio.h>
#include <string.h>

static void help(void) {
    printf("usage: musicgen info [-m MODEL] [--json]\n\n"
           "Load a model and print what it is: mono/stereo, codebooks, sample and frame\n"
           "rate, layer sizes, parameter counts and weight formats. Loading checks every\n"
           "file, tensor name, dtype and shape, so this also validates a download.\n\n"
           "  -m, --model MODEL   folder, .gguf file or repo id (default %s)\n"
           "      --json          machine-readable output\n"
           "  -h, --help          this help\n", MG_DEFAULT_MODEL);
}

static void print_params(const char *label, int64_t n) {
    printf("  %-22s %lld (%.1f M)\n", label, (long long)n, (double)n / 1e6);
}

int cmd_info(int argc, char **argv) {
    const char *model = MG_DEFAULT_MODEL;
    int json = 0;
    static const struct option opts[] = {{"model", required_argument, 0, 'm'},
                                         {"json", no_argument, 0, 'j'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *optstring = ":m:h";
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, optstring, opts, NULL)) != -1) {
        switch (c) {
        case 'm': model = optarg; break;
        case 'j': json = 1; break;
        case 'h': help(); return 0;
        default: return cli_bad_option("info", argv, optstring);
        }
    }
    if (optind < argc)
        return cli_error("info", "unexpected argument \"%s\" (see musicgen info --help)", argv[optind]);
    mg_model_params mp = mg_model_default_params();
    mg_model *m;
    if (cli_load_model("info", model, &mp, &m))
        return 1;
    mg_model_info in;
    mg_model_get_info(m, &in);
    if (json) {
        printf("{\"model\": \"%s\", \"kind\": \"%s\", \"channels\": %d, \"sample_rate\": %d, \"frame_rate\": %g, "
               "\"hop_length\": %d, \"codebooks\": %d, \"codebook_size\": %d, \"codec_quantizers\": %d, "
               "\"max_steps\": %d, \"max_duration_s\": %g, "
               "\"decoder\": {\"layers\": %d, \"hidden\": %d, \"heads\": %d, \"ffn\": %d}, "
               "\"text_encoder\": {\"layers\": %d, \"hidden\": %d, \"heads\": %d, \"vocab\": %d}, "
               "\"params\": {\"text\": %lld, \"decoder\": %lld, \"codec\": %lld, \"total\": %lld}, "
               "\"weight_type\": \"%s\", \"guidance_scale\": %g, \"top_k\": %d}\n",
               model, in.stereo ? "stereo" : "mono", in.channels, in.sample_rate, (double)in.frame_rate,
               in.hop_length, in.n_codebooks, in.codebook_size, in.codec_codebooks, in.max_steps,
               (double)in.max_duration_s, in.decoder_layers, in.decoder_hidden, in.decoder_heads, in.decoder_ffn,
               in.text_layers, in.text_hidden, in.text_heads, in.text_vocab, (long long)in.params_text,
               (long long)in.params_decoder, (long long)in.params_codec, (long long)in.params_total, in.weight_type,
               (double)in.guidance_scale, in.top_k);
    } else {
        printf("model: %s\n", model);
        printf("  kind                   %s (%d channel%s)\n", in.stereo ? "stereo" : "mono", in.channels,
               in.channels > 1 ? "s" : "");
        printf("  sample rate            %d Hz\n", in.sample_rate);
        printf("  frame rate             %g Hz (hop %d samples)\n", (double)in.frame_rate, in.hop_length);
        printf("  codebooks              %d x %d entries (EnCodec quantizers: %d)\n", in.n_codebooks,
               in.codebook_size, in.codec_codebooks);
        printf("  window                 %d steps = %.2f s\n", in.max_steps, (double)in.max_duration_s);
        printf("  decoder                %d layers, hidden %d, %d heads, ffn %d\n", in.decoder_layers,
               in.decoder_hidden, in.decoder_heads, in.decoder_ffn);
        printf("  text encoder (T5)      %d layers, hidden %d, %d heads, vocab %d\n", in.text_layers,
               in.text_hidden, in.text_heads, in.text_vocab);
        print_params("params, text encoder", in.params_text);
        print_params("params, decoder", in.params_decoder);
        print_params("params, codec", in.params_codec);
        print_params("params, total", in.params_total);
        printf("  weights                %s\n", in.weight_type);
        printf("  defaults               guidance %g, top-k %d, %s\n", (double)in.guidance_scale, in.top_k,
               in.do_sample ? "sampling" : "greedy");
    }
    mg_model_free(m);
    return 0;
}
