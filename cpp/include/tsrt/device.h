#pragma once
// Device strings as users write them ("cpu", "cuda", "cuda:1") and checks that
// the device exists in this process before a model is placed on it.

#include <string>

#include <c10/core/Device.h>

namespace tsrt {

/// Parses "cpu", "cuda" or "cuda:N" into a device. "cuda" means "cuda:0".
/// Throws Error(kInvalidArgument) for anything else, and when torch was built
/// without CUDA or no such GPU is visible.
c10::Device parse_device(const std::string& text);

}  // namespace tsrt
