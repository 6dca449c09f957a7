/* sha256.c — sha256 of files and buffers for verifying hub downloads (hub.h).
 * A thin wrapper over OpenSSL's EVP digest API (libcrypto, Debian: libssl-dev);
 * the hub names LFS files by their sha256, so a downloaded weight file is checked
 * against that name before it is placed in the cache. Does not do any other hashing. */
#include "io/hub.h"

#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void to_hex(const unsigned char *md, unsigned n, char *hex) {
    static const char digits[] = "0123456789abcdef";
    for (unsigned i = 0; i < n; i++) {
        hex[2 * i] = digits[md[i] >> 4];
        hex[2 * i + 1] = digits[md[i] & 15];
    }
    hex[2 * n] = 0;
}

static mg_status finish(EVP_MD_CTX *ctx, char hex[65]) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned n = 0;
    int ok = EVP_DigestFinal_ex(ctx, md, &n) == 1 && n == 32;
    EVP_MD_CTX_free(ctx);
    if (!ok)
        return mg_fail(MG_ERR_INTERNAL, "sha256: OpenSSL digest failed");
    to_hex(md, n, hex);
    return MG_OK;
}

static EVP_MD_CTX *start(void) {
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
        EVP_MD_CTX_free(ctx);
        ctx = NULL;
    }
    if (!ctx)
        mg_fail(MG_ERR_INTERNAL, "sha256: cannot initialise the OpenSSL digest");
    return ctx;
}

mg_status mg_sha256_buffer(const void *data, size_t size, char hex[65]) {
    EVP_MD_CTX *ctx = start();
    if (!ctx)
        return MG_ERR_INTERNAL;
    if (EVP_DigestUpdate(ctx, data, size) != 1) {
        EVP_MD_CTX_free(ctx);
        return mg_fail(MG_ERR_INTERNAL, "sha256: OpenSSL digest failed");
    }
    return finish(ctx, hex);
}

mg_status mg_sha256_file(const char *path, char hex[65]) {
    FILE *f = fopen(path, "rb");
    if (!f)
        return mg_fail(MG_ERR_IO, "cannot open %s to check its sha256: %s", path, strerror(errno));
    EVP_MD_CTX *ctx = start();
    enum { CHUNK = 1 << 20 };
    unsigned char *buf = ctx ? mg_malloc(CHUNK, "the sha256 buffer") : NULL;
    if (!buf) {
        EVP_MD_CTX_free(ctx);
        fclose(f);
        return ctx ? MG_ERR_NOMEM : MG_ERR_INTERNAL;
    }
    mg_status st = MG_OK;
    size_t got;
    while ((got = fread(buf, 1, CHUNK, f)) > 0)
        if (EVP_DigestUpdate(ctx, buf, got) != 1) {
            st = mg_fail(MG_ERR_INTERNAL, "sha256: OpenSSL digest failed");
            break;
        }
    if (st == MG_OK && ferror(f))
        st = mg_fail(MG_ERR_IO, "cannot read %s to check its sha256", path);
    free(buf);
    fclose(f);
    if (st != MG_OK) {
        EVP_MD_CTX_free(ctx);
        return st;
    }
    return finish(ctx, hex);
}
