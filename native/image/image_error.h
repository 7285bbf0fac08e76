// Errors from decoding and loading carry a stable code so callers can tell bad files apart.
#pragma once
#include <stdexcept>
#include <string>

namespace carclass::image {

// Codes: FILE_NOT_FOUND, FILE_UNREADABLE, FILE_EMPTY, FILE_TOO_LARGE, NOT_JPEG (neither JPEG nor PNG),
// JPEG_TRUNCATED, JPEG_CORRUPT, JPEG_UNSUPPORTED (12-bit, odd colour spaces), JPEG_TOO_LARGE,
// PNG_TRUNCATED, PNG_CORRUPT, NOT_PNG (DecodePng called directly), BMP_TRUNCATED, BMP_CORRUPT,
// BMP_UNSUPPORTED, BMP_TOO_LARGE, NOT_BMP, PNG_TOO_LARGE, PNG_UNSUPPORTED, INVALID_ARGUMENT.
class ImageError : public std::runtime_error {
 public:
  ImageError(std::string code, const std::string& reason)
      : std::runtime_error(code + "|" + reason), code_(std::move(code)), reason_(reason) {}
  const std::string& code() const { return code_; }
  const std::string& reason() const { return reason_; }

 private:
  std::string code_;
  std::string reason_;
};

}  // namespace carclass::image
