#pragma once
// HdrHistogram's V2 compressed encoding, the "HISTFAAA..." strings that
// HdrHistogram libraries in other languages (Java, C, Go, JavaScript) read.
//
// Layers, outermost first:
//   base64 (standard alphabet, padded)
//   envelope: compressed cookie 0x1c849314, int32 length, zlib-deflated payload
//   payload:  cookie 0x1c849313, int32 counts length in bytes, int32
//             normalizing index offset (0), int32 significant figures, int64
//             lowest and highest trackable values, double integer-to-double
//             conversion ratio (1.0), then the counts up to the last non-zero
//             one, each a ZigZag LEB128 varint (at most 9 bytes); a run of
//             two or more zero counts is written as one negative number.
// Integers are big-endian.  The building blocks are exposed for the tests.

#include <cstdint>
#include <string>
#include <string_view>

#include "harness/measure/histogram.hpp"

namespace ioduel::harness {

std::string encode_compressed_base64(const histogram& h);
// Throws std::invalid_argument naming the layer that is wrong.
histogram decode_compressed_base64(std::string_view text);

namespace codec {

// ZigZag, then LEB128 with HdrHistogram's 9-byte limit (the ninth byte
// carries 8 bits).  get_varint consumes from `in`; throws if it is cut short.
void put_varint(std::string& out, std::int64_t v);
std::int64_t get_varint(std::string_view& in);

std::string base64_encode(std::string_view bytes);
std::string base64_decode(std::string_view text);  // throws std::invalid_argument

std::string deflate(std::string_view bytes);
// Throws std::invalid_argument if the data is not zlib or inflates past limit.
std::string inflate(std::string_view bytes, std::size_t limit);

}  // namespace codec
}  // namespace ioduel::harness
