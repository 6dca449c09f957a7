/* spm_proto.c — read a serialized SentencePiece ModelProto (spiece.model) with a
 * small protobuf wire-format reader.
 *
 * Follows sentencepiece_model.proto: ModelProto { repeated SentencePiece pieces = 1
 * {piece = 1, score = 2, type = 3}; TrainerSpec trainer_spec = 2 {model_type = 3,
 * treat_whitespace_as_suffix = 24, byte_fallback = 35}; NormalizerSpec
 * normalizer_spec = 3 {precompiled_charsmap = 2, add_dummy_prefix = 3,
 * remove_extra_whitespaces = 4, escape_whitespaces = 5} }, with protobuf's parse
 * rules: unknown fields are skipped, a known field with an unexpected wire type is
 * treated as unknown, the last value of a repeated scalar wins, a repeated
 * sub-message is merged, an enum value outside the enum is ignored.
 *
 * Every length and varint is checked against the buffer, so truncated or garbage
 * input fails with MG_ERR_FORMAT and never reads out of bounds (this parser is
 * fuzzed). It does not support protobuf groups (wire types 3/4, unused since
 * proto2's early days; rejected as malformed) and it does not interpret the
 * fields the tokenizer does not need.
 */
#include "text/spm_internal.h"

#include <stdlib.h>
#include <string.h>

enum { WIRE_VARINT = 0, WIRE_I64 = 1, WIRE_LEN = 2, WIRE_SGROUP = 3, WIRE_EGROUP = 4, WIRE_I32 = 5 };

typedef struct pb_reader {
    const uint8_t *base; /* start of the whole buffer (for offsets in messages) */
    const uint8_t *p;
    const uint8_t *end;
    const char *where;
} pb_reader;

static mg_status malformed(const pb_reader *r, const char *what) {
    return mg_fail(MG_ERR_FORMAT,
                   "%s: not a valid SentencePiece model (%s at byte %zu); the tokenizer file is corrupt or "
                   "truncated — download spiece.model again",
                   r->where, what, (size_t)(r->p - r->base));
}

static mg_status read_varint(pb_reader *r, uint64_t *out) {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (r->p >= r->end)
            return malformed(r, "truncated varint");
        uint8_t b = *r->p++;
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *out = v;
            return MG_OK;
        }
    }
    return malformed(r, "varint longer than 10 bytes");
}

static mg_status read_tag(pb_reader *r, uint32_t *field, int *wire) {
    uint64_t key;
    MG_TRY(read_varint(r, &key));
    if (key >> 32)
        return malformed(r, "field tag out of range");
    *field = (uint32_t)(key >> 3);
    *wire = (int)(key & 7);
    if (*field == 0)
        return malformed(r, "field number 0");
    return MG_OK;
}

/* A length-delimited payload: a sub-reader over exactly its bytes. */
static mg_status read_len(pb_reader *r, pb_reader *sub) {
    uint64_t n;
    MG_TRY(read_varint(r, &n));
    if (n > (uint64_t)(r->end - r->p))
        return malformed(r, "length past the end of the data");
    sub->base = r->base;
    sub->where = r->where;
    sub->p = r->p;
    sub->end = r->p + n;
    r->p += n;
    return MG_OK;
}

static mg_status read_fixed32(pb_reader *r, uint32_t *out) {
    if (r->end - r->p < 4)
        return malformed(r, "truncated 32-bit field");
    *out = (uint32_t)r->p[0] | (uint32_t)r->p[1] << 8 | (uint32_t)r->p[2] << 16 | (uint32_t)r->p[3] << 24;
    r->p += 4;
    return MG_OK;
}

static mg_status skip_field(pb_reader *r, int wire) {
    uint64_t v;
    pb_reader sub;
    switch (wire) {
    case WIRE_VARINT: return read_varint(r, &v);
    case WIRE_LEN: return read_len(r, &sub);
    case WIRE_I32:
        if (r->end - r->p < 4)
            return malformed(r, "truncated 32-bit field");
        r->p += 4;
        return MG_OK;
    case WIRE_I64:
        if (r->end - r->p < 8)
            return malformed(r, "truncated 64-bit field");
        r->p += 8;
        return MG_OK;
    default: return malformed(r, "unsupported wire type (group or invalid)");
    }
}

/* An enum or int32 varint, as protobuf truncates it. */
static int32_t as_int32(uint64_t v) { return (int32_t)(uint32_t)v; }

static mg_status parse_piece(pb_reader *r, spm_proto_piece *pc) {
    while (r->p < r->end) {
        uint32_t field;
        int wire;
        MG_TRY(read_tag(r, &field, &wire));
        if (field == 1 && wire == WIRE_LEN) {
            pb_reader s;
            MG_TRY(read_len(r, &s));
            pc->text = s.p;
            pc->len = (size_t)(s.end - s.p);
        } else if (field == 2 && wire == WIRE_I32) {
            uint32_t bits = 0;
            MG_TRY(read_fixed32(r, &bits));
            memcpy(&pc->score, &bits, sizeof bits);
        } else if (field == 3 && wire == WIRE_VARINT) {
            uint64_t v;
            MG_TRY(read_varint(r, &v));
            int32_t type = as_int32(v);
            if (type >= SPM_NORMAL && type <= SPM_BYTE)
                pc->type = type;
        } else {
            MG_TRY(skip_field(r, wire));
        }
    }
    return MG_OK;
}

static mg_status parse_trainer_spec(pb_reader *r, spm_proto *out) {
    while (r->p < r->end) {
        uint32_t field;
        int wire;
        MG_TRY(read_tag(r, &field, &wire));
        uint64_t v;
        if (wire == WIRE_VARINT && (field == 3 || field == 24 || field == 35)) {
            MG_TRY(read_varint(r, &v));
            if (field == 3) {
                int32_t type = as_int32(v);
                if (type >= SPM_MODEL_UNIGRAM && type <= SPM_MODEL_CHAR)
                    out->model_type = type;
            } else if (field == 24) {
                out->treat_whitespace_as_suffix = v != 0;
            } else {
                out->byte_fallback = v != 0;
            }
        } else {
            MG_TRY(skip_field(r, wire));
        }
    }
    return MG_OK;
}

static mg_status parse_normalizer_spec(pb_reader *r, spm_proto *out) {
    while (r->p < r->end) {
        uint32_t field;
        int wire;
        MG_TRY(read_tag(r, &field, &wire));
        if (field == 2 && wire == WIRE_LEN) {
            pb_reader s;
            MG_TRY(read_len(r, &s));
            out->charsmap = s.p;
            out->charsmap_size = (size_t)(s.end - s.p);
        } else if (wire == WIRE_VARINT && field >= 3 && field <= 5) {
            uint64_t v;
            MG_TRY(read_varint(r, &v));
            if (field == 3)
                out->add_dummy_prefix = v != 0;
            else if (field == 4)
                out->remove_extra_whitespaces = v != 0;
            else
                out->escape_whitespaces = v != 0;
        } else {
            MG_TRY(skip_field(r, wire));
        }
    }
    return MG_OK;
}

static mg_status add_piece(pb_reader *r, spm_proto *out, spm_proto_piece **pc) {
    if (out->n_pieces == out->cap_pieces) {
        if (out->cap_pieces >= (1 << 28))
            return malformed(r, "too many pieces");
        int cap = out->cap_pieces ? out->cap_pieces * 2 : 1024;
        spm_proto_piece *np = realloc(out->pieces, (size_t)cap * sizeof *np);
        if (!np)
            return mg_fail(MG_ERR_NOMEM, "out of memory reading the pieces of %s", r->where);
        out->pieces = np;
        out->cap_pieces = cap;
    }
    *pc = &out->pieces[out->n_pieces++];
    memset(*pc, 0, sizeof **pc);
    (*pc)->type = SPM_NORMAL;
    return MG_OK;
}

static mg_status parse_model(pb_reader *r, spm_proto *out) {
    while (r->p < r->end) {
        uint32_t field;
        int wire;
        MG_TRY(read_tag(r, &field, &wire));
        if (wire == WIRE_LEN && field >= 1 && field <= 3) {
            pb_reader sub;
            MG_TRY(read_len(r, &sub));
            if (field == 1) {
                spm_proto_piece *pc = NULL;
                MG_TRY(add_piece(r, out, &pc));
                MG_TRY(parse_piece(&sub, pc));
            } else if (field == 2) {
                MG_TRY(parse_trainer_spec(&sub, out));
            } else {
                MG_TRY(parse_normalizer_spec(&sub, out));
            }
        } else {
            MG_TRY(skip_field(r, wire));
        }
    }
    return MG_OK;
}

mg_status spm_proto_parse(const uint8_t *data, size_t size, const char *where, spm_proto *out) {
    memset(out, 0, sizeof *out);
    out->model_type = SPM_MODEL_UNIGRAM;
    out->add_dummy_prefix = 1;
    out->remove_extra_whitespaces = 1;
    out->escape_whitespaces = 1;
    if (!where)
        where = "tokenizer model";
    if (!data && size)
        return mg_fail(MG_ERR_INVALID_ARG, "%s: no data", where);
    mg_status st = MG_OK;
    if (data) {
        pb_reader r = {data, data, data + size, where};
        st = parse_model(&r, out);
    }
    if (st != MG_OK) {
        spm_proto_free(out);
        return st;
    }
    return MG_OK;
}

void spm_proto_free(spm_proto *p) {
    free(p->pieces);
    p->pieces = NULL;
    p->n_pieces = p->cap_pieces = 0;
}
