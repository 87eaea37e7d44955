#include "harness/measure/histogram_codec.hpp"

#include <zlib.h>

#include <array>
#include <bit>
#include <stdexcept>

namespace ioduel::harness {
namespace {

constexpr std::uint32_t payload_cookie = 0x1c849303 | 0x10;     // 0x10: 9-byte varint counts
constexpr std::uint32_t compressed_cookie = 0x1c849304 | 0x10;
constexpr std::uint32_t cookie_base_mask = ~std::uint32_t{0xf0};
constexpr std::size_t payload_header_size = 40;
// A histogram's counts inflate to at most 9 bytes each; 64 MiB is far beyond
// any sane layout and stops a hostile input from exhausting memory.
constexpr std::size_t inflate_limit = 64u << 20;

[[noreturn]] void bad(const std::string& why) {
  throw std::invalid_argument("histogram decode: " + why);
}

void put_be(std::string& out, std::uint64_t v, int bytes) {
  for (int i = bytes - 1; i >= 0; --i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

std::uint64_t get_be(std::string_view& in, int bytes) {
  if (in.size() < static_cast<std::size_t>(bytes)) bad("input ends inside a header field");
  std::uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v = (v << 8) | static_cast<unsigned char>(in[i]);
  in.remove_prefix(static_cast<std::size_t>(bytes));
  return v;
}

std::string hex(std::uint32_t v) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string s = "0x";
  for (int i = 7; i >= 0; --i) s.push_back(digits[(v >> (4 * i)) & 0xf]);
  return s;
}

}  // namespace

namespace codec {

void put_varint(std::string& out, std::int64_t v) {
  auto z = (static_cast<std::uint64_t>(v) << 1) ^ static_cast<std::uint64_t>(v >> 63);
  for (int i = 0; i < 8; ++i) {
    if (z < 0x80) {
      out.push_back(static_cast<char>(z));
      return;
    }
    out.push_back(static_cast<char>((z & 0x7f) | 0x80));
    z >>= 7;
  }
  out.push_back(static_cast<char>(z));  // the ninth byte holds the top 8 bits
}

std::int64_t get_varint(std::string_view& in) {
  std::uint64_t z = 0;
  for (int i = 0; i < 9; ++i) {
    if (in.empty()) bad("the counts end inside a number");
    const auto b = static_cast<unsigned char>(in.front());
    in.remove_prefix(1);
    if (i == 8) {
      z |= std::uint64_t{b} << 56;
      break;
    }
    z |= std::uint64_t{b & 0x7fu} << (7 * i);
    if ((b & 0x80) == 0) break;
  }
  return static_cast<std::int64_t>(z >> 1) ^ -static_cast<std::int64_t>(z & 1);
}

std::string base64_encode(std::string_view bytes) {
  static constexpr char alphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  for (std::size_t i = 0; i < bytes.size(); i += 3) {
    const std::size_t n = std::min<std::size_t>(3, bytes.size() - i);
    std::uint32_t group = 0;
    for (std::size_t k = 0; k < 3; ++k)
      group = (group << 8) | (k < n ? static_cast<unsigned char>(bytes[i + k]) : 0u);
    for (std::size_t k = 0; k < 4; ++k)
      out.push_back(k <= n ? alphabet[(group >> (18 - 6 * k)) & 0x3f] : '=');
  }
  return out;
}

std::string base64_decode(std::string_view text) {
  static constexpr auto table = [] {
    std::array<signed char, 256> t{};
    t.fill(-1);
    const std::string_view a = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (std::size_t i = 0; i < a.size(); ++i)
      t[static_cast<unsigned char>(a[i])] = static_cast<signed char>(i);
    return t;
  }();
  std::size_t end = text.size();
  if (end % 4 != 0) bad("not base64 (its length, " + std::to_string(end) + ", is not a multiple of 4)");
  for (int pad = 0; pad < 2 && end > 0 && text[end - 1] == '='; ++pad) --end;
  std::string out;
  out.reserve(end / 4 * 3 + 2);
  std::uint32_t group = 0;
  int bits = 0;
  for (std::size_t i = 0; i < end; ++i) {
    const signed char d = table[static_cast<unsigned char>(text[i])];
    if (d < 0) bad("not base64 (character " + std::to_string(i) + " is not in the alphabet)");
    group = (group << 6) | static_cast<std::uint32_t>(d);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((group >> bits) & 0xff));
    }
  }
  return out;
}

std::string deflate(std::string_view bytes) {
  uLongf size = compressBound(static_cast<uLong>(bytes.size()));
  std::string out(size, '\0');
  if (compress2(reinterpret_cast<Bytef*>(out.data()), &size,
                reinterpret_cast<const Bytef*>(bytes.data()), static_cast<uLong>(bytes.size()),
                Z_DEFAULT_COMPRESSION) != Z_OK)
    throw std::runtime_error("histogram encode: zlib compress2 failed");
  out.resize(size);
  return out;
}

std::string inflate(std::string_view bytes, std::size_t limit) {
  z_stream z{};
  if (inflateInit(&z) != Z_OK) throw std::runtime_error("histogram decode: zlib inflateInit failed");
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(bytes.data()));
  z.avail_in = static_cast<uInt>(bytes.size());
  std::string out;
  std::array<char, 16384> chunk;
  int rc = Z_OK;
  while (rc != Z_STREAM_END) {
    z.next_out = reinterpret_cast<Bytef*>(chunk.data());
    z.avail_out = static_cast<uInt>(chunk.size());
    rc = ::inflate(&z, Z_NO_FLUSH);
    if (rc != Z_OK && rc != Z_STREAM_END) {
      const std::string why = rc == Z_BUF_ERROR ? "it is cut short" : (z.msg ? z.msg : "error");
      inflateEnd(&z);
      bad("the compressed payload is not valid zlib data (" + why + ")");
    }
    out.append(chunk.data(), chunk.size() - z.avail_out);
    if (out.size() > limit) {
      inflateEnd(&z);
      bad("the compressed payload inflates past " + std::to_string(limit) + " bytes");
    }
  }
  inflateEnd(&z);
  return out;
}

}  // namespace codec

std::string encode_compressed_base64(const histogram& h) {
  const auto counts = h.counts();
  std::size_t limit = counts.size();
  while (limit > 1 && counts[limit - 1] == 0) --limit;  // up to the last non-zero count

  std::string body;
  for (std::size_t i = 0; i < limit;) {
    if (counts[i] != 0) {
      codec::put_varint(body, static_cast<std::int64_t>(counts[i++]));
      continue;
    }
    std::size_t run = 0;
    while (i < limit && counts[i] == 0) ++i, ++run;
    codec::put_varint(body, run > 1 ? -static_cast<std::int64_t>(run) : 0);
  }

  std::string payload;
  payload.reserve(payload_header_size + body.size());
  put_be(payload, payload_cookie, 4);
  put_be(payload, body.size(), 4);
  put_be(payload, 0, 4);  // normalizing index offset: this histogram never shifts
  put_be(payload, static_cast<std::uint64_t>(h.significant_figures()), 4);
  put_be(payload, static_cast<std::uint64_t>(h.lowest_trackable()), 8);
  put_be(payload, static_cast<std::uint64_t>(h.highest_trackable()), 8);
  put_be(payload, std::bit_cast<std::uint64_t>(1.0), 8);
  payload += body;

  const std::string compressed = codec::deflate(payload);
  std::string envelope;
  put_be(envelope, compressed_cookie, 4);
  put_be(envelope, compressed.size(), 4);
  envelope += compressed;
  return codec::base64_encode(envelope);
}

histogram decode_compressed_base64(std::string_view text) {
  const std::string envelope = codec::base64_decode(text);
  std::string_view in = envelope;
  if (in.size() < 8) bad("too short to be an HdrHistogram encoding");
  const auto cookie = static_cast<std::uint32_t>(get_be(in, 4));
  if ((cookie & cookie_base_mask) != (compressed_cookie & cookie_base_mask))
    bad("not an HdrHistogram V2 compressed encoding (cookie " + hex(cookie) + ")");
  const auto compressed_size = get_be(in, 4);
  if (compressed_size > in.size())
    bad("the compressed payload is cut short (" + std::to_string(in.size()) + " of " +
        std::to_string(compressed_size) + " bytes)");

  const std::string payload = codec::inflate(in.substr(0, compressed_size), inflate_limit);
  in = payload;
  if (in.size() < payload_header_size) bad("the payload is shorter than its header");
  const auto inner = static_cast<std::uint32_t>(get_be(in, 4));
  if ((inner & cookie_base_mask) != (payload_cookie & cookie_base_mask))
    bad("the payload is not a V2 histogram (cookie " + hex(inner) + ")");
  const auto counts_size = get_be(in, 4);
  get_be(in, 4);  // normalizing index offset: counts are stored in logical order anyway
  const auto figures = static_cast<std::int32_t>(get_be(in, 4));
  const auto lowest = static_cast<std::int64_t>(get_be(in, 8));
  const auto highest = static_cast<std::int64_t>(get_be(in, 8));
  get_be(in, 8);  // integer-to-double conversion ratio: only DoubleHistogram uses it
  if (counts_size > in.size())
    bad("the counts are cut short (" + std::to_string(in.size()) + " of " +
        std::to_string(counts_size) + " bytes)");
  in = in.substr(0, counts_size);

  histogram h = [&] {
    try {
      return histogram(lowest, highest, figures);
    } catch (const std::invalid_argument& e) {
      bad(std::string("its layout is invalid: ") + e.what());
    }
  }();
  const std::size_t length = h.counts().size();
  std::size_t index = 0;
  while (!in.empty()) {
    const std::int64_t v = codec::get_varint(in);
    if (v < 0) {
      const auto run = static_cast<std::uint64_t>(-(v + 1)) + 1;
      if (run > length - index) bad("the counts overrun the histogram's layout");
      index += run;
      continue;
    }
    if (index >= length) bad("the counts overrun the histogram's layout");
    // Straight into the bucket: a count may lie above highest_trackable()
    // (the top bucket reaches past it), and record_n() would clamp it.
    h.counts_[index++] += static_cast<std::uint64_t>(v);
    h.total_ += static_cast<std::uint64_t>(v);
  }
  return h;
}

}  // namespace ioduel::harness
