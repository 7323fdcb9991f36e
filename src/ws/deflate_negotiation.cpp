#include "ws/deflate_negotiation.hpp"

#include <strings.h>

#include <algorithm>
#include <vector>

namespace wirehub::ws {
namespace {

// RFC 7230 3.2.6 tchar.
bool is_tchar(char c) noexcept {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  switch (c) {
    case '!':
    case '#':
    case '$':
    case '%':
    case '&':
    case '\'':
    case '*':
    case '+':
    case '-':
    case '.':
    case '^':
    case '_':
    case '`':
    case '|':
    case '~':
      return true;
    default:
      return false;
  }
}

bool iequals(std::string_view a, std::string_view b) noexcept {
  return a.size() == b.size() && strncasecmp(a.data(), b.data(), a.size()) == 0;
}

struct Param {
  std::string_view name;
  bool has_value = false;
  bool bad = false;   // a well-formed quoted-string that is not a token once unescaped
  std::string value;  // unescaped
};

struct Offer {
  std::string_view name;
  std::vector<Param> params;
};

// A cursor over one field line, following RFC 6455 9.1:
//   extension-list = 1#extension
//   extension = extension-token *( ";" extension-param )
//   extension-param = token [ "=" (token | quoted-string) ]
// (quoted values must be tokens once unescaped). Each next() yields one extension.
class Reader {
 public:
  explicit Reader(std::string_view s) : s_(s) {}

  enum class Step { Offer, End, Broken };

  Step next(Offer& out) {
    out.params.clear();
    // 1#element allows empty elements: skip commas and whitespace between them.
    while (pos_ < s_.size() && (s_[pos_] == ',' || is_ows(s_[pos_]))) ++pos_;
    if (pos_ == s_.size()) return Step::End;
    out.name = token();
    if (out.name.empty()) return Step::Broken;
    for (;;) {
      skip_ows();
      if (pos_ == s_.size()) return Step::Offer;
      if (s_[pos_] == ',') {
        ++pos_;
        return Step::Offer;
      }
      if (s_[pos_] != ';') return Step::Broken;
      ++pos_;
      skip_ows();
      Param p;
      p.name = token();
      if (p.name.empty()) return Step::Broken;
      skip_ows();
      if (pos_ < s_.size() && s_[pos_] == '=') {
        ++pos_;
        skip_ows();
        p.has_value = true;
        if (pos_ < s_.size() && s_[pos_] == '"') {
          if (!quoted(p.value)) return Step::Broken;
        } else {
          p.value = std::string(token());
          if (p.value.empty()) return Step::Broken;  // "=" must be followed by a value
        }
        // Grammatical, so parsing can go on; but the offer is invalid (9.1: the unescaped
        // value must be a token) and will be declined.
        if (p.value.empty()) p.bad = true;
        for (char c : p.value)
          if (!is_tchar(c)) p.bad = true;
      }
      out.params.push_back(std::move(p));
    }
  }

 private:
  static bool is_ows(char c) noexcept { return c == ' ' || c == '\t'; }
  void skip_ows() {
    while (pos_ < s_.size() && is_ows(s_[pos_])) ++pos_;
  }
  std::string_view token() {
    std::size_t start = pos_;
    while (pos_ < s_.size() && is_tchar(s_[pos_])) ++pos_;
    return s_.substr(start, pos_ - start);
  }
  // RFC 7230 3.2.6 quoted-string with quoted-pair; pos_ is at the opening quote.
  bool quoted(std::string& out) {
    ++pos_;
    while (pos_ < s_.size()) {
      char c = s_[pos_++];
      if (c == '"') return true;
      if (c == '\\') {
        if (pos_ == s_.size()) return false;
        c = s_[pos_++];
      }
      out += c;
    }
    return false;  // unterminated
  }

  std::string_view s_;
  std::size_t pos_ = 0;
};

// RFC 7692 7.1.2: "a decimal integer value without leading zeroes between 8 to 15".
int window_bits(const std::string& v) noexcept {
  if (v.size() == 1 && v[0] >= '8' && v[0] <= '9') return v[0] - '0';
  if (v.size() == 2 && v[0] == '1' && v[1] >= '0' && v[1] <= '5') return 10 + (v[1] - '0');
  return -1;
}

// The response to one offer, or nullopt when it must be declined.
std::optional<DeflateNegotiation> answer(const Offer& offer, const DeflatePolicy& policy) {
  bool server_nct = false, client_nct = false, seen_sbits = false, seen_cbits = false;
  int sbits = 15, cbits = -1;  // cbits: -1 offered without a value
  for (const Param& p : offer.params) {
    if (p.bad) return std::nullopt;
    if (iequals(p.name, "server_no_context_takeover")) {
      if (server_nct || p.has_value) return std::nullopt;  // 7.1.1.1: no value
      server_nct = true;
    } else if (iequals(p.name, "client_no_context_takeover")) {
      if (client_nct || p.has_value) return std::nullopt;  // 7.1.1.2: no value
      client_nct = true;
    } else if (iequals(p.name, "server_max_window_bits")) {
      if (seen_sbits || !p.has_value) return std::nullopt;  // 7.1.2.1: value required
      seen_sbits = true;
      sbits = window_bits(p.value);
      if (sbits < 0) return std::nullopt;
    } else if (iequals(p.name, "client_max_window_bits")) {
      if (seen_cbits) return std::nullopt;
      seen_cbits = true;
      if (p.has_value) {  // 7.1.2.2: the value is optional
        cbits = window_bits(p.value);
        if (cbits < 0) return std::nullopt;
      }
    } else {
      return std::nullopt;  // 7.1: an unknown parameter declines the offer
    }
  }

  DeflateNegotiation n;
  DeflateAgreement& a = n.agreement;
  a.enabled = true;
  a.server_no_context_takeover = server_nct || policy.server_no_context_takeover;
  a.client_no_context_takeover = client_nct || policy.client_no_context_takeover;
  // Our window: never above what the client allows (7.1.2.1: same or smaller value).
  const int ours = std::min<int>(sbits, policy.server_max_window_bits);
  a.server_window_bits = static_cast<std::uint8_t>(ours);
  // The client's window: limited only if it offered the parameter (7.1.2.2); with a value
  // it will not use more than that value, whatever we answer.
  int theirs = 15;
  bool answer_cbits = false;
  if (seen_cbits) {
    const int offered = cbits < 0 ? 15 : cbits;
    theirs = std::min<int>(offered, policy.client_max_window_bits);
    answer_cbits = cbits >= 0 || theirs < 15;
  }
  a.client_window_bits = static_cast<std::uint8_t>(theirs);

  std::string& r = n.response;
  r = "permessage-deflate";
  if (a.server_no_context_takeover) r += "; server_no_context_takeover";
  if (a.client_no_context_takeover) r += "; client_no_context_takeover";
  // Offered: accepting means answering it (7.1.2.1). Not offered: we may add it to ask
  // for nothing more than that our compressor uses a smaller window.
  if (seen_sbits || ours < 15) r += "; server_max_window_bits=" + std::to_string(ours);
  if (answer_cbits) r += "; client_max_window_bits=" + std::to_string(theirs);
  return n;
}

}  // namespace

std::optional<DeflateNegotiation> negotiate_deflate(std::span<const std::string_view> header_values,
                                                    const DeflatePolicy& policy) {
  Offer offer;
  for (std::string_view line : header_values) {
    Reader reader(line);
    for (;;) {
      Reader::Step step = reader.next(offer);
      if (step != Reader::Step::Offer) break;  // End, or Broken: drop the rest of the line
      if (!iequals(offer.name, "permessage-deflate")) continue;
      if (auto n = answer(offer, policy)) return n;
    }
  }
  return std::nullopt;
}

}  // namespace wirehub::ws
