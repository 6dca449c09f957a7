/* cmd_info.c — `musicgen info -m MODEL [--json]`: what a model is (mono/stereo,
 * sizes, codebooks, rates, parameter counts, dtypes), after checking everything
 * generation needs: loading checks files, tensor names, dtypes, shapes and byte
 * ranges; mg_model_validate reads every weight (NaN / Inf), lists tensors no stage
 * uses, checks config consistency and the tokenizer. A problem is one line on stderr
 * and exit 1; warnings go to stderr and do not fail. */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void help(void) {
    printf("usage: musicgen info [-m MODEL] [--json]\n\n"
           "Load a model and print what it is: mono/stereo, codebooks, sample and frame\n"
           "rate, layer sizes, parameter counts and weight formats, after validating\n"
           "everything generation needs: every file, tensor name, dtype, shape and byte\n"
           "range, every weight value (NaN / Inf), unknown tensors (a warning), config\n"
           "consistency and the tokenizer. Use it to check a download: exit 0 = usable.\n\n"
           "  -m, --model MODEL   folder, .gguf file or repo id[@REVISION]\n"
           "                      (default %s)\n"
           "      --json          machine-readable output\n"
           "  -h, --help          this help\n", MG_DEFAULT_MODEL);
}

/* Findings of mg_model_validate: warnings on stderr as they come; every finding is
 * kept for --json. */
typedef struct findings {
    char **msg;
    int *is_error;
    int n;
} findings;

static void on_finding(mg_finding kind, const char *msg, void *user) {
    findings *f = user;
    if (kind == MG_FINDING_WARNING)
        fprintf(stderr, "musicgen info: warning: %s\n", msg);
    char **nm = realloc(f->msg, sizeof *nm * (size_t)(f->n + 1));
    int *ne = realloc(f->is_error, sizeof *ne * (size_t)(f->n + 1));
    if (nm)
        f->msg = nm;
    if (ne)
        f->is_error = ne;
    if (!nm || !ne || !(f->msg[f->n] = strdup(msg)))
        return;
    f->is_error[f->n++] = kind == MG_FINDING_ERROR;
}

static void print_json_findings(const findings *f, int errors) {
    printf("[");
    for (int i = 0, k = 0; i < f->n; i++) {
        if (f->is_error[i] != errors)
            continue;
        printf(k++ ? ", " : "");
        cli_json_string(f->msg[i]);
    }
    printf("]");
}

static void print_validation_json(const mg_validate_report *r, const findings *f, mg_status st) {
    printf("\"validation\": {\"ok\": %s, \"tensors\": %d, \"tensors_checked\": %d, \"values_checked\": %lld, "
           "\"nonfinite\": %d, \"unused\": %d, \"tokenizer_ok\": %s, \"errors\": ",
           st == MG_OK ? "true" : "false", r->n_tensors, r->n_checked, (long long)r->n_values, r->n_nonfinite,
           r->n_unused, r->tokenizer_ok ? "true" : "false");
    print_json_findings(f, 1);
    printf(", \"warnings\": ");
    print_json_findings(f, 0);
    printf(", \"unused_tensors\": [");
    for (int i = 0, k = 0; i < f->n; i++) {
        /* "tensor NAME in FILE is not used ..." -> NAME */
        const char *m = f->msg[i];
        if (f->is_error[i] || strncmp(m, "tensor ", 7) || !strstr(m, " is not used by any stage"))
            continue;
        const char *end = strstr(m + 7, " in ");
        printf(k++ ? ", " : "");
        printf("\"%.*s\"", end ? (int)(end - m - 7) : 0, m + 7);
    }
    printf("]}");
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
    if (cli_check_short_clusters("info", argc, argv, optstring, opts))
        return 1;
    while ((c = getopt_long(argc, argv, optstring, opts, NULL)) != -1) {
        switch (c) {
        case 'm': model = optarg; break;
        case 'j': json = 1; break;
        case 'h': help(); return 0;
        default: return cli_bad_option("info", argv, optstring, opts);
        }
    }
    if (optind < argc)
        return cli_unexpected_argument("info", argv[optind]);
    mg_model_params mp = mg_model_default_params();
    mg_model *m;
    if (cli_load_model("info", model, &mp, &m))
        return 1;
    findings f = {NULL, NULL, 0};
    mg_validate_report rep;
    mg_status vst = mg_model_validate(m, on_finding, &f, &rep);
    int rc = 0;
    if (vst != MG_OK) {
        rc = cli_lib_error("info", vst);
        if (json) {
            printf("{\"model\": ");
            cli_json_string(model);
            printf(", ");
            print_validation_json(&rep, &f, vst);
            printf("}\n");
        }
        goto done;
    }
    mg_model_info in;
    mg_model_get_info(m, &in);
    char ratios_json[64] = "", ratios_text[64] = "";
    for (int i = 0, nj = 0, nt = 0; i < in.codec_n_ratios; i++) {
        nj += snprintf(ratios_json + nj, sizeof ratios_json - (size_t)nj, "%s%d", i ? ", " : "", in.codec_ratios[i]);
        nt += snprintf(ratios_text + nt, sizeof ratios_text - (size_t)nt, "%s%d", i ? " x " : "", in.codec_ratios[i]);
    }
    if (json) {
        printf("{\"model\": ");
        cli_json_string(model); /* a path may hold quotes or backslashes */
        printf(", \"kind\": \"%s\", \"channels\": %d, \"sample_rate\": %d, \"frame_rate\": %g, "
               "\"hop_length\": %d, \"codebooks\": %d, \"codebook_size\": %d, \"codec_quantizers\": %d, "
               "\"max_steps\": %d, \"max_duration_s\": %g, "
               "\"decoder\": {\"layers\": %d, \"hidden\": %d, \"heads\": %d, \"ffn\": %d, \"activation\": \"%s\"}, "
               "\"text_encoder\": {\"layers\": %d, \"hidden\": %d, \"heads\": %d, \"vocab\": %d, \"head_dim\": %d, "
               "\"ffn\": %d, \"activation\": \"%s\", \"gated\": %s}, "
               "\"codec\": {\"filters\": %d, \"hidden\": %d, \"ratios\": [%s], \"residual_layers\": %d, "
               "\"lstm_layers\": %d, \"causal\": %s}, "
               "\"params\": {\"text\": %lld, \"decoder\": %lld, \"codec\": %lld, \"total\": %lld}, "
               "\"weight_type\": \"%s\", \"guidance_scale\": %g, \"top_k\": %d, \"top_p\": %g, "
               "\"temperature\": %g, \"do_sample\": %s, ",
               in.stereo ? "stereo" : "mono", in.channels, in.sample_rate, (double)in.frame_rate,
               in.hop_length, in.n_codebooks, in.codebook_size, in.codec_codebooks, in.max_steps,
               (double)in.max_duration_s, in.decoder_layers, in.decoder_hidden, in.decoder_heads, in.decoder_ffn,
               in.decoder_activation, in.text_layers, in.text_hidden, in.text_heads, in.text_vocab, in.text_head_dim,
               in.text_ffn, in.text_activation, in.text_gated ? "true" : "false", in.codec_filters, in.codec_hidden,
               ratios_json, in.codec_residual_layers, in.codec_lstm_layers, in.codec_causal ? "true" : "false",
               (long long)in.params_text,
               (long long)in.params_decoder, (long long)in.params_codec, (long long)in.params_total, in.weight_type,
               (double)in.guidance_scale, in.top_k, (double)in.top_p, (double)in.temperature,
               in.do_sample ? "true" : "false");
        print_validation_json(&rep, &f, vst);
        printf("}\n");
    } else {
        printf("model: %s\n", model);
        printf("  kind                   %s (%d channel%s)\n", in.stereo ? "stereo" : "mono", in.channels,
               in.channels > 1 ? "s" : "");
        printf("  sample rate            %d Hz\n", in.sample_rate);
        printf("  frame rate             %g Hz (hop %d samples)\n", (double)in.frame_rate, in.hop_length);
        printf("  codebooks              %d x %d entries (EnCodec quantizers: %d)\n", in.n_codebooks,
               in.codebook_size, in.codec_codebooks);
        printf("  window                 %d steps = %.2f s\n", in.max_steps, (double)in.max_duration_s);
        printf("  decoder                %d layers, hidden %d, %d heads, ffn %d (%s)\n", in.decoder_layers,
               in.decoder_hidden, in.decoder_heads, in.decoder_ffn, in.decoder_activation);
        printf("  text encoder (T5)      %d layers, hidden %d, %d heads x %d, ffn %d (%s%s), vocab %d\n",
               in.text_layers, in.text_hidden, in.text_heads, in.text_head_dim, in.text_ffn,
               in.text_gated ? "gated " : "", in.text_activation, in.text_vocab);
        printf("  codec (EnCodec)        %d filters, hidden %d, ratios %s, %d residual / %d LSTM layers%s\n",
               in.codec_filters, in.codec_hidden, ratios_text, in.codec_residual_layers, in.codec_lstm_layers,
               in.codec_causal ? ", causal" : "");
        print_params("params, text encoder", in.params_text);
        print_params("params, decoder", in.params_decoder);
        print_params("params, codec", in.params_codec);
        print_params("params, total", in.params_total);
        printf("  weights                %s\n", in.weight_type);
        if (in.guidance_scale > 1)
            printf("  defaults               guidance %g", (double)in.guidance_scale);
        else
            printf("  defaults               no guidance");
        if (in.top_k > 0)
            printf(", top-k %d", in.top_k);
        else
            printf(", no top-k");
        if (in.top_p > 0 && in.top_p < 1)
            printf(", top-p %g", (double)in.top_p);
        if (in.temperature != 1.0f)
            printf(", temperature %g", (double)in.temperature);
        printf(", %s\n", in.do_sample ? "sampling" : "greedy");
        printf("  validation             ok: %d tensors, %lld values checked, tokenizer ok%s\n", rep.n_tensors,
               (long long)rep.n_values, rep.n_warnings ? " (see the warnings above)" : "");
    }
done:
    for (int i = 0; i < f.n; i++)
        free(f.msg[i]);
    free(f.msg);
    free(f.is_error);
    mg_model_free(m);
    return rc;
}
