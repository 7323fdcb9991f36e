#pragma once
// Logging goes through spdlog's default logger; this header only fixes the include so
// layers do not each pick their own sink. Messages never contain tokens or payloads.
#include <spdlog/spdlog.h>

namespace wirehub::log {
using spdlog::debug;
using spdlog::error;
using spdlog::info;
using spdlog::trace;
using spdlog::warn;
}  // namespace wirehub::log
