#include "conformance.hpp"

#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>

#include "auth/jwt.hpp"

namespace wirehub::app {

namespace {

using Headers = std::vector<std::pair<std::string, std::string>>;

// Every helper route answers browsers of any origin (the client's browser tests run from
// another origin, with credentials).
void add_cors(const HttpRequest& req, HttpResponse& res) {
  if (auto origin = req.header("Origin")) {
    res.headers.emplace_back("Access-Control-Allow-Origin", std::string(*origin));
    res.headers.emplace_back("Access-Control-Allow-Credentials", "true");
    res.headers.emplace_back("Vary", "Origin");
  }
}

Headers negotiate_cookies(bool https) {
  const std::string attrs = https ? "; path=/; SameSite=None; Secure; Partitioned" : "; path=/";
  return {
      {"Set-Cookie", "testCookie=testValue" + attrs},
      {"Set-Cookie", "testCookie2=testValue2" + attrs},
      {"Set-Cookie", "expiredCookie=doesntmatter; expires=Thu, 01 Jan 1970 00:00:00 GMT" + attrs},
  };
}

// A process-wide random HS256 key: tokens from /generateJwtToken are good for this run.
const std::string& jwt_key() {
  static const std::string key = [] {
    std::string k(32, '\0');
    if (RAND_bytes(reinterpret_cast<unsigned char*>(k.data()), static_cast<int>(k.size())) != 1)
      throw std::runtime_error("no randomness for the conformance JWT key");
    return k;
  }();
  return key;
}

std::string sign_token(std::string_view user, std::int64_t lifetime_s) {
  const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
  const Json header = {{"alg", "HS256"}, {"typ", "JWT"}};
  const Json claims = {{"sub", user}, {"nameid", user}, {"iat", now}, {"exp", now + lifetime_s}};
  std::string input = auth::base64url_encode(header.dump()) + "." + auth::base64url_encode(claims.dump());
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  HMAC(EVP_sha256(), jwt_key().data(), static_cast<int>(jwt_key().size()),
       reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac, &n);
  return input + "." + auth::base64url_encode(std::string_view(reinterpret_cast<const char*>(mac), n));
}

// What the client's ComplexObject tests expect back from SendComplexObject, per protocol:
// JSON with base64 bytes and an ISO date; MessagePack with bin bytes and the timestamp
// extension (type -1) for 2000-01-01T00:00:00Z.
Json complex_object(std::string_view protocol) {
  if (protocol == "messagepack") {
    return {{"String", "hello world"},
            {"IntArray", {1, 2, 3}},
            {"ByteArray", Json::binary({1, 2, 3})},
            {"Guid", "00010203-0405-0607-0706-050403020100"},
            {"DateTime", Json::binary({0x38, 0x6d, 0x43, 0x80}, 0xff)}};  // 946684800 s
  }
  return {{"String", "hello world"},
          {"IntArray", {1, 2, 3}},
          {"ByteArray", "AQID"},
          {"Guid", "00010203-0405-0607-0706-050403020100"},
          {"DateTime", "2000-01-01T00:00:00Z"}};
}

Json optional_text(const std::optional<std::string>& v) { return v ? Json(*v) : Json(nullptr); }

void mount_test_hub(Hub& hub) {
  hub.method("Echo", [](std::string message) { return message; });
  hub.method("GetCallerConnectionId", [](HubCaller& c) { return c.connection_id(); });
  hub.method("GetNumRedirects", [](HubCaller& c) {
    auto n = c.query("numRedirects");
    if (!n) throw HubException("the request has no numRedirects", "InvalidOperationException");
    return std::stoi(*n);
  });
  hub.method("ThrowException", [](std::string message) { throw HubException(message, "InvalidOperationException"); });
  hub.method("InvokeWithString", [](HubCaller& c, std::string message) { c.caller().send("Message", {message}); });
  hub.method("SendCustomObject", [](HubCaller& c, Json object) { c.caller().send("CustomObject", {object}); });
  hub.method("Stream", [](HubStreamWriter out) {
    for (const char* item : {"a", "b", "c"}) out.write(item);
    out.complete();
  });
  hub.method("InfiniteStream", [](HubCaller& c, HubStreamWriter out) {
    // The handler holds the writer: a writer dropped without an end completes the stream,
    // and this one must stay open until the client cancels it (or leaves, which cancels too
    // and so frees the handler and the writer with it).
    out.on_cancel([&hub = c.hub(), id = c.connection_id(), out] { hub.clients().client(id).send("StreamCanceled"); });
  });
  hub.method("StreamingConcat", [](HubUpload in, HubReply reply) {
    auto text = std::make_shared<std::string>();
    in.on_item([text](Json item) { *text += item.is_string() ? item.get<std::string>() : item.dump(); });
    in.on_end([text, reply](std::optional<std::string> error) {
      if (error) {
        reply.fail(HubException(*error));
      } else {
        reply.ok(*text);
      }
    });
  });
  hub.method("EmptyStream", [](HubStreamWriter out) { out.complete(); });
  hub.method("StreamThrowException", [](std::string message, HubStreamWriter) {
    throw HubException(message, "InvalidOperationException");
  });
  hub.method("GetActiveTransportName", [](HubCaller& c) { return std::string(c.transport()); });
  hub.method("EchoComplexObject", [](Json object) { return object; });
  hub.method("SendComplexObject", [](HubCaller& c) { return complex_object(c.protocol()); });
  hub.method("GetContentTypeHeader", [](HubCaller& c) { return optional_text(c.header("Content-Type")); });
  hub.method("GetHeader", [](HubCaller& c, std::string name) { return optional_text(c.header(name)); });
  hub.method("GetCookie", [](HubCaller& c, std::string name) { return optional_text(c.cookie(name)); });
}

}  // namespace

void mount_signalr_conformance(Server& server, const ConformanceOptions& options) {
  HubOptions hub_options = options.hub;
  hub_options.detailed_errors = true;
  hub_options.allowed_origins = {"*"};
  hub_options.negotiate_headers = negotiate_cookies(options.https);
  hub_options.stateful_reconnect = true;

  Hub& test = server.hub("/testhub", hub_options);
  mount_test_hub(test);
  HubOptions no_ws = hub_options;
  no_ws.websockets = false;
  mount_test_hub(server.hub("/testhub-nowebsockets", no_ws));

  HubOptions authorized = hub_options;
  JwtAuthOptions jwt;
  jwt.hs256_secret = jwt_key();
  jwt.leeway_s = 0;
  authorized.jwt = jwt;
  Hub& auth = server.hub("/authorizedhub", authorized);
  auth.method("Echo", [](std::string message) { return message; });
  auth.method("GetUserNameIdentifier", [](HubCaller& c) { return c.user(); });
  auth.method("GetUserClaim", [](HubCaller& c, std::string type) {
    const Principal* p = c.principal();
    if (!p) return std::string();
    Json claims = Json::parse(p->claims_json, nullptr, false);
    if (!claims.is_object() || !claims.contains(type)) return std::string();
    return claims[type].is_string() ? claims[type].get<std::string>() : claims[type].dump();
  });

  // A byte echo on the connection layer alone, open only to clients that kept the cookie
  // negotiate set (the client tests check cookies reach every transport this way).
  server.connections(
      "/echo",
      {.on_open =
           [](RawConnection& c) {
             if (!c.cookie("testCookie")) c.close();
           },
       .on_data = [](RawConnection& c, std::string_view data) { c.send(data); }},
      hub_options);

  server.route("GET", "/generateJwtToken", [](const HttpRequest& req, HttpResponse& res) {
    add_cors(req, res);
    res.body = sign_token("testuser", 5);
  });

  server.route_async("GET", "/clientresult/{id}", [&test](const HttpRequest& req, HttpResponder responder) {
    auto r = std::make_shared<HttpResponder>(std::move(responder));
    HttpResponse res;
    add_cors(req, res);
    test.invoke_client(std::string(*req.param("id")), "Result", Json::array(), [r, res](HubClientResult result) mutable {
      if (result.ok && result.value.is_number_integer()) {
        res.body = std::to_string(result.value.get<std::int64_t>());
      } else if (result.ok) {
        res.body = "the client's result is not an integer: " + result.value.dump();
      } else {
        res.body = result.error;
      }
      r->respond(std::move(res));
    });
  });

  server.route("GET", "/deployment", [](const HttpRequest& req, HttpResponse& res) {
    add_cors(req, res);
    res.content_type = "application/json";
    res.body = Json{{"server", "wirehub"}, {"app", "signalr-conformance"}}.dump();
  });

  // The negotiate-redirect helpers: any method, any path below them.
  auto redirects = std::make_shared<std::atomic<int>>(0);
  const bool https = options.https;
  for (const char* method : {"GET", "POST", "PUT", "DELETE"}) {
    server.route(method, "/redirect/*", [redirects, https](const HttpRequest& req, HttpResponse& res) {
      add_cors(req, res);
      for (auto& h : negotiate_cookies(https)) res.headers.push_back(h);
      const int n = ++*redirects;
      res.content_type = "application/json";
      const std::string base = req.query_param("baseUrl").value_or("");
      res.body = Json{{"url", base + "/testHub?numRedirects=" + std::to_string(n)}}.dump();
    });
    server.route(method, "/bad-negotiate/*", [](const HttpRequest& req, HttpResponse& res) {
      add_cors(req, res);
      res.status = 400;
      res.body = "Some response from server";
    });
    server.route(method, "/echoredirect/*", [](const HttpRequest& req, HttpResponse& res) {
      add_cors(req, res);
      res.status = 307;
      std::string location = "/echo/" + std::string(*req.param("*"));
      if (!req.query.empty()) location += "?" + std::string(req.query);
      res.headers.emplace_back("Location", location);
    });
  }
}

}  // namespace wirehub::app
