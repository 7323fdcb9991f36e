#include "ws/deflate.hpp"

#include <zlib.h>

#include <algorithm>
#include <climits>
#include <cstring>
#include <new>

namespace wirehub::ws {
namespace {

// RFC 7692 7.2.1: a sync flush ends with an empty stored block, 00 00 ff ff, which the
// sender removes and the receiver appends again (7.2.2).
constexpr unsigned char kTail[4] = {0x00, 0x00, 0xff, 0xff};
constexpr std::size_t kMaxChunk = UINT_MAX;  // zlib counts in uInt

}  // namespace

// --- Deflater ------------------------------------------------------------------------------

Deflater::~Deflater() {
  if (z_) {
    deflateEnd(z_);
    delete z_;
  }
}

void Deflater::compress(std::string_view message, std::string& out) {
  if (!z_) {
    auto* z = new z_stream{};
    if (deflateInit2(z, level_, Z_DEFLATED, -window_bits_, mem_level_, Z_DEFAULT_STRATEGY) !=
        Z_OK) {
      delete z;
      throw std::bad_alloc();
    }
    z_ = z;
  }
  // deflateBound covers the data; a sync flush adds at most a few bytes per call.
  out.resize(std::max<std::size_t>(
      64, deflateBound(z_, static_cast<uLong>(std::min(message.size(), kMaxChunk))) + 16));
  std::size_t produced = 0;
  const char* in = message.data();
  std::size_t left = message.size();
  for (;;) {
    const std::size_t take = std::min(left, kMaxChunk);
    z_->next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in));
    z_->avail_in = static_cast<uInt>(take);
    in += take;
    left -= take;
    const int flush = left == 0 ? Z_SYNC_FLUSH : Z_NO_FLUSH;
    do {
      if (produced == out.size()) out.resize(out.size() * 2);
      const std::size_t room = std::min(out.size() - produced, kMaxChunk);
      z_->next_out = reinterpret_cast<Bytef*>(out.data() + produced);
      z_->avail_out = static_cast<uInt>(room);
      deflate(z_, flush);  // cannot fail with a valid stream and room to write
      produced += room - z_->avail_out;
    } while (z_->avail_out == 0);
    if (left == 0) break;
  }
  out.resize(produced);
  // After a sync flush with room to spare the output ends with the empty stored block.
  if (out.size() >= 4 && std::memcmp(out.data() + out.size() - 4, kTail, 4) == 0)
    out.resize(out.size() - 4);
  if (!takeover_) deflateReset(z_);
}

// --- Inflater ------------------------------------------------------------------------------

Inflater::~Inflater() {
  if (z_) {
    inflateEnd(z_);
    delete z_;
  }
}

void Inflater::reset() noexcept {
  if (z_) inflateReset(z_);
}

void Inflater::done() noexcept {
  out_.clear();
  if (out_.capacity() > keep_output_) out_.release();
}

Inflater::Result Inflater::inflate(std::string_view payload, std::uint64_t max_bytes) {
  if (!z_) {
    auto* z = new z_stream{};
    // A raw window of 8 is valid for inflate (only deflate lacks it). Senders built on
    // zlib asked for 8 compress with 9, but zlib never emits a distance beyond
    // 2^9 - 262 bytes, so an 8-bit window still decodes them.
    if (inflateInit2(z, -window_bits_) != Z_OK) {
      delete z;
      throw std::bad_alloc();
    }
    z_ = z;
  }
  Result r = run(payload, max_bytes);
  // Without takeover each message starts from an empty window (RFC 7692 7.1.1.2); after
  // an error the stream is unusable anyway.
  if (r != Result::Ok || !takeover_) reset();
  return r;
}

Inflater::Result Inflater::run(std::string_view payload, std::uint64_t max_bytes) {
  out_.clear();
  // The buffer is allowed one byte past the limit: filling that byte is how we learn the
  // message is too big, without inflating (or allocating) any further.
  const std::size_t limit = max_bytes >= SIZE_MAX - sizeof(void*) * 4
                                ? SIZE_MAX / 2
                                : static_cast<std::size_t>(max_bytes) + 1;
  for (int part = 0; part < 2; ++part) {
    const char* in = part == 0 ? payload.data() : reinterpret_cast<const char*>(kTail);
    std::size_t left = part == 0 ? payload.size() : sizeof kTail;
    for (;;) {
      if (z_->avail_in == 0 && left != 0) {
        const std::size_t take = std::min(left, kMaxChunk);
        z_->next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in));
        z_->avail_in = static_cast<uInt>(take);
        in += take;
        left -= take;
      }
      if (out_.size() >= limit) return Result::TooBig;
      if (out_.size() == out_.capacity()) {
        // Doubling from a guess of the ratio; never past the limit.
        std::size_t want = std::max<std::size_t>({1024, out_.capacity() * 2, payload.size() * 2});
        out_.reserve_exact(std::min(want, limit));
      }
      const std::size_t room =
          std::min({out_.capacity() - out_.size(), limit - out_.size(), kMaxChunk});
      z_->next_out = reinterpret_cast<Bytef*>(out_.reserve_exact(out_.capacity()));
      z_->avail_out = static_cast<uInt>(room);
      const int ret = ::inflate(z_, Z_SYNC_FLUSH);
      out_.commit(room - z_->avail_out);
      if (ret == Z_STREAM_END) {
        // A block with BFINAL set ends the DEFLATE stream (RFC 7692 7.2.3.4 allows it):
        // whatever follows in the payload is padding, and the sender starts a new stream
        // (a new window) with its next message.
        z_->avail_in = 0;
        inflateReset(z_);
        return out_.size() > max_bytes ? Result::TooBig : Result::Ok;
      }
      if (ret == Z_BUF_ERROR) {
        // No progress possible: input exhausted (next part) or output full (grow).
        if (z_->avail_in == 0 && left == 0) break;
        continue;
      }
      if (ret == Z_MEM_ERROR) throw std::bad_alloc();
      if (ret != Z_OK) return Result::Corrupt;  // Z_DATA_ERROR, Z_NEED_DICT
      if (z_->avail_in == 0 && left == 0 && z_->avail_out != 0) break;
    }
  }
  return out_.size() > max_bytes ? Result::TooBig : Result::Ok;
}

}  // namespace wirehub::ws
