/* sha256.c — sha256 of files and buffers for verifying hub downloads (hub.h).
 * A thin wrapper over OpenSSL's EVP digest API (libcrypto, Debian: libssl-dev);
 * the hub names LFS files by their sha256, so a downloaded weight file is checked
 * against that name before it is placed in the cache. Does not do any other hashing. */
#include "io/hub.h"

#include <errno.h>
#include <openssl/crypto.h>
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

static mg_status start(EVP_MD_CTX **out) {
    *out = NULL;
#if OPENSSL_VERSION_NUMBER >= 0x30000000L
    /* OpenSSL 3 sets up its default library context once, at first use (often in
     * libcurl's start-up). If an allocation fails in there, the context is left with a
     * NULL lock and every digest after that dereferences it (OpenSSL 3.0; found by
     * tests/fault/alloc_failures.py). Asked again, the context getter says NULL. */
    if (!OSSL_LIB_CTX_get0_global_default())
        return mg_fail(MG_ERR_NOMEM, "sha256: OpenSSL could not set itself up (out of memory?); try again");
#endif
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
        EVP_MD_CTX_free(ctx);
        ctx = NULL;
    }
    if (!ctx)
        return mg_fail(MG_ERR_INTERNAL, "sha256: cannot initialise the OpenSSL digest");
    *out = ctx;
    return MG_OK;
}

mg_status mg_sha256_buffer(const void *data, size_t size, char hex[65]) {
    EVP_MD_CTX *ctx;
    MG_TRY(start(&ctx));
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
    EVP_MD_CTX *ctx;
    mg_status st = start(&ctx);
    enum { CHUNK = 1 << 20 };
    unsigned char *buf = st == MG_OK ? mg_malloc(CHUNK, "the sha256 buffer") : NULL;
    if (!buf) {
        EVP_MD_CTX_free(ctx);
        fclose(f);
        return st == MG_OK ? MG_ERR_NOMEM : st;
    }
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
