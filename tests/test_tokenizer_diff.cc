// test_tokenizer_diff.cc — differential test of our SentencePiece/T5 tokenizer
// (src/text/spm*.c) against libsentencepiece, used ONLY as a test oracle (Debian's
// libsentencepiece-dev; the library itself never links it).
//
// For the fixture's spiece.model and variants of it (made by appending protobuf
// fields, which protobuf merges: no dummy prefix, kept whitespace, no U+2581
// escaping, whitespace as suffix, identity normalizer, user-defined pieces, byte
// fallback, unused pieces) thousands of deterministic random and adversarial
// strings (mixed scripts, combining marks, controls, NUL, whitespace runs,
// full-width, ligatures, emoji, invalid UTF-8, long strings) plus every code point
// U+0001..U+10FFFF are encoded by both:
//   plain mode (MG_TOK_PLAIN_SPM) must equal SentencePieceProcessor::Encode ids;
//   T5 mode must equal what transformers' T5Tokenizer computes, emulated here on
//   top of libsentencepiece: split the added tokens out (leftmost match), strip
//   Python whitespace around <extra_id_N>, EncodeAsPieces per span, map each piece
//   string through the added tokens then PieceToId, append </s> unless present.
// Invalid UTF-8 is not an error in either library (each bad byte -> U+FFFD).
#include <sentencepiece_processor.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

extern "C" {
#include "text/spm.h"
}

static int g_checks = 0, g_failures = 0, g_printed = 0;

static std::string escape(const std::string &s) {
    std::string o;
    char buf[8];
    for (unsigned char c : s.substr(0, 160)) {
        if (c >= 0x20 && c < 0x7f && c != '\\') {
            o += (char)c;
        } else {
            snprintf(buf, sizeof buf, "\\x%02x", c);
            o += buf;
        }
    }
    if (s.size() > 160)
        o += "...";
    return o;
}

static std::string join(const std::vector<int> &v) {
    std::ostringstream o;
    for (size_t i = 0; i < v.size() && i < 60; i++)
        o << (i ? " " : "") << v[i];
    if (v.size() > 60)
        o << " ...";
    return o.str();
}

static void check_equal(const char *model, const char *mode, const std::string &text, const std::vector<int> &got,
                        const std::vector<int> &want) {
    g_checks++;
    if (got == want)
        return;
    g_failures++;
    if (g_printed++ < 15)
        fprintf(stderr, "FAIL [%s, %s] \"%s\"\n  ours: %s\n  want: %s\n", model, mode, escape(text).c_str(),
                join(got).c_str(), join(want).c_str());
}

// ---- deterministic random text ----------------------------------------------------------

struct Rng {
    uint64_t s;
    explicit Rng(uint64_t seed) : s(seed ? seed : 1) {}
    uint64_t next() {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        return s;
    }
    size_t below(size_t n) { return (size_t)(next() % n); }
};

static void put_utf8(std::string &o, uint32_t c) {
    if (c < 0x80) {
        o += (char)c;
    } else if (c < 0x800) {
        o += (char)(0xC0 | (c >> 6));
        o += (char)(0x80 | (c & 0x3F));
    } else if (c < 0x10000) {
        o += (char)(0xE0 | (c >> 12));
        o += (char)(0x80 | ((c >> 6) & 0x3F));
        o += (char)(0x80 | (c & 0x3F));
    } else {
        o += (char)(0xF0 | (c >> 18));
        o += (char)(0x80 | ((c >> 12) & 0x3F));
        o += (char)(0x80 | ((c >> 6) & 0x3F));
        o += (char)(0x80 | (c & 0x3F));
    }
}

struct Range {
    uint32_t lo, hi;
};

// Code point pools: [lo, hi] ranges per kind of trouble.
static const std::vector<std::vector<Range>> kPools = {
    {{0x20, 0x7E}},                                                                // ASCII
    {{'a', 'z'}, {'0', '9'}},                                                      // words and numbers
    {{0x09, 0x0D}, {0x1C, 0x20}, {0x85, 0x85}, {0xA0, 0xA0}, {0x1680, 0x1680}, {0x2000, 0x200F},
     {0x2028, 0x202F}, {0x205F, 0x2060}, {0x3000, 0x3000}, {0xFEFF, 0xFEFF}, {0x180E, 0x180E},
     {0x2581, 0x2581}},                                                            // whitespace and friends
    {{0x300, 0x36F}, {0x1AB0, 0x1AFF}, {0x20D0, 0x20FF}, {0xFE20, 0xFE2F}},     // combining marks
    {{0xA0, 0x24F}, {0x1E00, 0x1EFF}},                                            // Latin accents
    {{0xFB00, 0xFB4F}, {0xFF00, 0xFFEF}, {0x3300, 0x33FF}, {0x2150, 0x218F}, {0x2460, 0x24FF},
     {0x1D400, 0x1D7FF}, {0x2070, 0x209F}, {0xF900, 0xFAFF}},                      // NFKC-folded forms
    {{0x1F300, 0x1F6FF}, {0x1F900, 0x1F9FF}, {0x200D, 0x200D}, {0xFE0F, 0xFE0F}, {0x1F3FB, 0x1F3FF},
     {0x1F1E6, 0x1F1FF}},                                                          // emoji, ZWJ, flags
    {{0x4E00, 0x9FFF}, {0x3040, 0x30FF}, {0xAC00, 0xD7A3}, {0x1100, 0x11FF}, {0xFF65, 0xFF9F}},  // CJK
    {{0x370, 0x3FF}, {0x400, 0x4FF}, {0x590, 0x5FF}, {0x600, 0x6FF}, {0x900, 0x97F}, {0xE00, 0xE7F},
     {0x10A0, 0x10FF}},                                                            // other scripts
    {{0x00, 0x1F}, {0x7F, 0x9F}, {0xFFF0, 0xFFFF}, {0xE000, 0xE0FF}, {0x10FFF0, 0x10FFFF},
     {0xE0000, 0xE007F}},                                                          // controls, NUL, specials
};

static const char *kFragments[] = {
    " ", "  ", "\t", "\n", "\r\n", "rock", "jazz", "piano", "caf\xc3\xa9", "e\xcc\x81", "\xef\xac\x81ne",
    "\xe2\x85\xa3", "\xc2\xbd", "xxxxxxxxxxxx", "___", "\xe2\x96\x81\xe2\x96\x81", "...", "-", "80s", "90 bpm",
    "\xf0\x9f\x8e\xb8\xf0\x9f\xa5\x81", "\xef\xbd\x86\xef\xbd\x95\xef\xbd\x8c\xef\xbd\x8c",
    // pieces of the user-defined / unused variants
    "@@", "<br>", "rock n", "\xe2\x99\xaa", "qjx", "qjz", "\xf0\x9f\x8e\xb8", "\xe6\x97\xa5",
};

// Bytes that are not valid UTF-8 (alone or in these sequences).
static const char *kInvalid[] = {
    "\x80", "\xbf", "\xc0\x80", "\xc1\xbf", "\xe0\x80\x80", "\xed\xa0\x80", "\xed\xbf\xbf", "\xf4\x90\x80\x80",
    "\xf5", "\xf8\x88\x80\x80\x80", "\xfe", "\xff", "\xc3", "\xe2\x96", "\xf0\x9f\x8e", "\xc3(", "\xe2(\xa1",
};

// Added-token literals and near misses (used in T5 mode only).
static const char *kSpecials[] = {
    "<pad>", "</s>", "<unk>", "<extra_id_0>", "<extra_id_99>", "<extra_id_100>", "<extra_id_07>", "<extra_id_5",
    "<s>", "<", ">", " <extra_id_3> ", "\xe3\x80\x80<extra_id_1>\xe2\x80\x83", "</s></s>", "<<pad>>",
    "<extra_id_12><extra_id_13>", "\t<extra_id_42>\n\xc2\x85", "<extra_id_-1>", "<EXTRA_ID_1>",
};

static std::string random_text(Rng &r, bool specials, bool allow_nul) {
    static const size_t kLens[] = {1, 2, 3, 5, 8, 13, 21, 40, 80, 200};
    size_t n = kLens[r.below(sizeof kLens / sizeof kLens[0])];
    std::string s;
    for (size_t i = 0; i < n; i++) {
        size_t kind = r.below(100);
        if (kind < 8) {
            s += kFragments[r.below(sizeof kFragments / sizeof kFragments[0])];
        } else if (kind < 12) {
            s += kInvalid[r.below(sizeof kInvalid / sizeof kInvalid[0])];
        } else if (kind < 16 && specials) {
            s += kSpecials[r.below(sizeof kSpecials / sizeof kSpecials[0])];
        } else {
            const std::vector<Range> &pool = kPools[r.below(kPools.size())];
            const Range &rg = pool[r.below(pool.size())];
            uint32_t c = rg.lo + (uint32_t)r.below(rg.hi - rg.lo + 1);
            if (c >= 0xD800 && c <= 0xDFFF)
                c = 0xFFFD;
            if (c == 0 && !allow_nul)
                c = 1;
            put_utf8(s, c);
        }
    }
    return s;
}

// ---- models -----------------------------------------------------------------------------

static void pb_varint(std::string &b, uint64_t v) {
    do {
        uint8_t c = (uint8_t)(v & 0x7f);
        v >>= 7;
        if (v)
            c |= 0x80;
        b += (char)c;
    } while (v);
}
static void pb_len(std::string &b, int field, const std::string &payload) {
    pb_varint(b, (uint64_t)field << 3 | 2);
    pb_varint(b, payload.size());
    b += payload;
}
static void pb_uint(std::string &b, int field, uint64_t v) {
    pb_varint(b, (uint64_t)field << 3);
    pb_varint(b, v);
}
static std::string pb_piece(const std::string &text, float score, int type) {
    std::string p;
    pb_len(p, 1, text);
    uint32_t bits;
    memcpy(&bits, &score, 4);
    pb_varint(p, 2 << 3 | 5);
    for (int i = 0; i < 4; i++)
        p += (char)((bits >> (8 * i)) & 0xff);
    pb_uint(p, 3, (uint64_t)type);
    std::string out;
    pb_len(out, 1, p);
    return out;
}
static std::string normalizer_field(int field, uint64_t v) {
    std::string ns, out;
    pb_uint(ns, field, v);
    pb_len(out, 3, ns);
    return out;
}
static std::string trainer_field(int field, uint64_t v) {
    std::string ts, out;
    pb_uint(ts, field, v);
    pb_len(out, 2, ts);
    return out;
}

struct Variant {
    std::string name;
    std::string bytes;
    bool t5_mode; // also compare the T5Tokenizer path
};

static std::vector<Variant> make_variants(const std::string &base) {
    std::vector<Variant> v;
    v.push_back({"base", base, true});
    v.push_back({"no-dummy-prefix", base + normalizer_field(3, 0), true});
    v.push_back({"keep-whitespace", base + normalizer_field(4, 0), true});
    v.push_back({"no-escape", base + normalizer_field(5, 0), true});
    v.push_back({"whitespace-suffix", base + trainer_field(24, 1), true});
    {
        std::string ns, out;
        pb_len(ns, 2, "");
        pb_len(out, 3, ns);
        v.push_back({"identity-normalizer", base + out, true});
    }
    v.push_back({"no-ws-rules", base + normalizer_field(3, 0) + normalizer_field(4, 0) + trainer_field(24, 1), true});
    {
        std::string m = base;
        const char *user[] = {"\xe2\x99\xaa", "<br>", "rock n", "\xe2\x96\x81\xe2\x96\x81", "@@", "qjx", "\xef\xbd\x86"};
        for (const char *u : user)
            m += pb_piece(u, 0, 4);
        v.push_back({"user-defined", m, true});
    }
    {
        std::string m = base + trainer_field(35, 1);
        char name[8];
        for (int b = 0; b < 256; b++) {
            snprintf(name, sizeof name, "<0x%02X>", b);
            m += pb_piece(name, 0, 6);
        }
        v.push_back({"byte-fallback", m, true});
    }
    {
        // UNUSED pieces: T5Tokenizer maps an <unk> span spelled like one back to
        // its id, plain sentencepiece does not, so compare plain mode only.
        std::string m = base;
        const char *unused[] = {"\xf0\x9f\x8e\xb8", "\xe6\x97\xa5", "qjz", "\xe2\x96\x81qjz"};
        for (const char *u : unused)
            m += pb_piece(u, -1, 5);
        v.push_back({"unused-pieces", m, false});
    }
    return v;
}

// ---- T5Tokenizer emulation on top of libsentencepiece ---------------------------------------

static bool py_isspace(int32_t c) {
    return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F ||
           c == 0x3000;
}

// Decode like sentencepiece (bad byte = one non-space unit).
static int32_t decode(const std::string &s, size_t i, size_t *len) {
    unsigned char c0 = (unsigned char)s[i];
    size_t n = s.size() - i;
    auto trail = [&](size_t k) { return ((unsigned char)s[i + k] & 0xC0) == 0x80; };
    *len = 1;
    if (c0 < 0x80)
        return c0;
    int32_t c = -1;
    size_t want = (c0 & 0xE0) == 0xC0 ? 2 : (c0 & 0xF0) == 0xE0 ? 3 : (c0 & 0xF8) == 0xF0 ? 4 : 0;
    if (!want || n < want)
        return -1;
    for (size_t k = 1; k < want; k++)
        if (!trail(k))
            return -1;
    if (want == 2)
        c = (c0 & 0x1F) << 6 | (s[i + 1] & 0x3F);
    if (want == 3)
        c = (c0 & 0x0F) << 12 | (s[i + 1] & 0x3F) << 6 | (s[i + 2] & 0x3F);
    if (want == 4)
        c = (c0 & 0x07) << 18 | (s[i + 1] & 0x3F) << 12 | (s[i + 2] & 0x3F) << 6 | (s[i + 3] & 0x3F);
    static const int32_t kMin[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (c < kMin[want] || (c >= 0xD800 && c < 0xE000) || c > 0x10FFFF)
        return -1;
    *len = want;
    return c;
}

static std::string lstrip(const std::string &s) {
    size_t i = 0, len;
    while (i < s.size() && py_isspace(decode(s, i, &len)))
        i += len;
    return s.substr(i);
}

static std::string rstrip(const std::string &s) {
    size_t keep = 0, len;
    for (size_t i = 0; i < s.size(); i += len)
        if (!py_isspace(decode(s, i, &len)))
            keep = i + len;
    return s.substr(0, keep);
}

struct T5Emulation {
    const sentencepiece::SentencePieceProcessor *sp;
    std::map<std::string, int> added; // content -> id
    std::map<std::string, bool> sentinel;
    int eos;

    T5Emulation(const sentencepiece::SentencePieceProcessor *p, int extra_ids) : sp(p) {
        int n = sp->GetPieceSize();
        for (const char *t : {"<pad>", "</s>", "<unk>"}) {
            int id = sp->PieceToId(t);
            if (sp->IdToPiece(id) == t)
                added[t] = id;
        }
        for (int i = 0; i < extra_ids; i++) {
            std::string t = "<extra_id_" + std::to_string(i) + ">";
            added[t] = n - 1 + extra_ids - i;
            sentinel[t] = true;
        }
        eos = sp->PieceToId("</s>");
    }

    std::vector<int> encode(const std::string &text) const {
        // Split: at each position, the added token starting there (none is a
        // prefix of another, so at most one matches).
        std::vector<std::pair<std::string, bool>> parts; // (text, is_added)
        size_t seg = 0;
        for (size_t i = 0; i < text.size();) {
            size_t m = 0;
            if (text[i] == '<')
                for (const auto &kv : added)
                    if (text.compare(i, kv.first.size(), kv.first) == 0)
                        m = kv.first.size();
            if (!m) {
                i++;
                continue;
            }
            if (i > seg)
                parts.push_back({text.substr(seg, i - seg), false});
            parts.push_back({text.substr(i, m), true});
            i += m;
            seg = i;
        }
        if (seg < text.size())
            parts.push_back({text.substr(seg), false});
        for (size_t i = 0; i < parts.size(); i++) {
            if (!parts[i].second || !sentinel.count(parts[i].first))
                continue;
            if (i + 1 < parts.size() && !parts[i + 1].second && !parts[i + 1].first.empty())
                parts[i + 1].first = lstrip(parts[i + 1].first);
            if (i > 0 && !parts[i - 1].second && !parts[i - 1].first.empty())
                parts[i - 1].first = rstrip(parts[i - 1].first);
        }
        std::vector<int> ids;
        for (const auto &p : parts) {
            if (p.first.empty())
                continue;
            if (p.second) {
                ids.push_back(added.at(p.first));
                continue;
            }
            std::vector<std::string> pieces;
            sp->Encode(p.first, &pieces).IgnoreError();
            for (const auto &piece : pieces) {
                auto it = added.find(piece);
                ids.push_back(it != added.end() ? it->second : sp->PieceToId(piece));
            }
        }
        if (ids.empty() || ids.back() != eos)
            ids.push_back(eos);
        return ids;
    }
};

// ---- driver -----------------------------------------------------------------------------------

static std::vector<int> ours(const mg_tokenizer *t, const std::string &s, int flags) {
    int32_t *ids = nullptr;
    int n = 0;
    mg_status st = mg_tokenizer_encode_ex(t, s.data(), s.size(), flags, &ids, &n);
    std::vector<int> v;
    if (st != MG_OK) {
        v.push_back(-1000 - (int)st);
        fprintf(stderr, "encode error: %s\n", mg_last_error());
    } else {
        v.assign(ids, ids + n);
    }
    free(ids);
    return v;
}

static long compare_one(const char *model, const mg_tokenizer *t, const sentencepiece::SentencePieceProcessor &sp,
                        const T5Emulation *t5, const std::string &s) {
    std::vector<int> want;
    sp.Encode(s, &want).IgnoreError();
    check_equal(model, "plain", s, ours(t, s, MG_TOK_PLAIN_SPM), want);
    long n = 1;
    if (t5) {
        check_equal(model, "t5", s, ours(t, s, 0), t5->encode(s));
        n++;
    }
    return n;
}

int main() {
    const char *ref = getenv("MG_REFERENCE_DIR");
    std::string path = std::string(ref && *ref ? ref : "../shared/reference") + "/tiny-mono/spiece.model";
    std::ifstream f(path, std::ios::binary);
    if (!f) {
        fprintf(stderr, "FAIL: cannot read %s\n", path.c_str());
        return 1;
    }
    std::string base((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    long total_strings = 0, total_compared = 0;
    for (const Variant &v : make_variants(base)) {
        sentencepiece::SentencePieceProcessor sp;
        auto status = sp.LoadFromSerializedProto(v.bytes);
        if (!status.ok()) {
            fprintf(stderr, "FAIL: libsentencepiece cannot load variant %s: %s\n", v.name.c_str(),
                    status.ToString().c_str());
            g_failures++;
            continue;
        }
        mg_tokenizer *t = nullptr;
        if (mg_tokenizer_load((const uint8_t *)v.bytes.data(), v.bytes.size(), v.name.c_str(), 100, &t) != MG_OK) {
            fprintf(stderr, "FAIL: cannot load variant %s: %s\n", v.name.c_str(), mg_last_error());
            g_failures++;
            continue;
        }
        T5Emulation t5(&sp, 100);
        const T5Emulation *t5p = v.t5_mode ? &t5 : nullptr;
        long strings = 0, compared = 0;
        bool is_base = v.name == "base";
        Rng r(0x5EED0000u + (uint64_t)v.name.size() * 7919u);
        int n_random = is_base ? 20000 : 2500;
        for (int i = 0; i < n_random; i++, strings++)
            compared += compare_one(v.name.c_str(), t, sp, t5p, random_text(r, i % 2 == 1, i % 5 == 0));
        // Every code point, 16 per string: spaced, then adjacent (base model only).
        if (is_base) {
            for (int joined = 0; joined < 2; joined++)
                for (uint32_t c = 1; c <= 0x10FFFF; c += 16) {
                    std::string s;
                    for (uint32_t k = c; k < c + 16 && k <= 0x10FFFF; k++) {
                        if (k >= 0xD800 && k <= 0xDFFF)
                            continue;
                        put_utf8(s, k);
                        if (!joined)
                            s += ' ';
                    }
                    compared += compare_one(v.name.c_str(), t, sp, nullptr, s);
                    strings++;
                }
            // Every byte value alone and in pairs (invalid UTF-8 included).
            for (int a = 0; a < 256; a++)
                for (int b = -1; b < 256; b += 5) {
                    std::string s(1, (char)a);
                    if (b >= 0)
                        s += (char)b;
                    compared += compare_one(v.name.c_str(), t, sp, &t5, s);
                    strings++;
                }
        }
        // A few long strings.
        for (int i = 0; i < (is_base ? 6 : 2); i++, strings++) {
            std::string s;
            while (s.size() < 60000)
                s += random_text(r, true, true);
            compared += compare_one(v.name.c_str(), t, sp, t5p, s);
        }
        printf("  %-20s %6ld strings, %6ld comparisons\n", v.name.c_str(), strings, compared);
        total_strings += strings;
        total_compared += compared;
        mg_tokenizer_free(t);
    }
    printf("differential: %ld strings, %ld comparisons against libsentencepiece, %d mismatches\n", total_strings,
           total_compared, g_failures);
    if (g_failures) {
        fprintf(stderr, "test_tokenizer_diff: %d of %d checks FAILED\n", g_failures, g_checks);
        return 1;
    }
    printf("test_tokenizer_diff: all %d checks passed\n", g_checks);
    return 0;
}
