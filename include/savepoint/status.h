// Status and Result<T>: how every savepoint call reports success or failure. No exception crosses the API.
//
// A Status is OK or names its kind and carries a message meant for an operator ("wal/00000001-...wal: bad
// checksum at offset 4096"). Kinds are distinct on purpose: a torn tail after a crash is not corruption, a
// full disk is not an I/O error, and a failed fsync is Fatal: the component refuses every later write.
//
// Thread-safety: a Status or Result is a value; distinct objects may be used from distinct threads freely.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace savepoint {

class [[nodiscard]] Status {
 public:
  enum class Code : unsigned char {
    kOk = 0,
    kNotFound,
    kCorruption,
    kIOError,
    kNoSpace,
    kInvalidArgument,
    kConflict,
    kBusy,
    kFatal,
    kWrongType,  // an operation against a key holding another kind of structure (Redis WRONGTYPE)
  };

  Status() = default;  // OK

  static Status OK() { return Status(); }
  static Status NotFound(std::string_view msg) { return Status(Code::kNotFound, msg); }
  static Status Corruption(std::string_view msg) { return Status(Code::kCorruption, msg); }
  static Status IOError(std::string_view msg) { return Status(Code::kIOError, msg); }
  static Status NoSpace(std::string_view msg) { return Status(Code::kNoSpace, msg); }
  static Status InvalidArgument(std::string_view msg) { return Status(Code::kInvalidArgument, msg); }
  static Status Conflict(std::string_view msg) { return Status(Code::kConflict, msg); }
  static Status Busy(std::string_view msg) { return Status(Code::kBusy, msg); }
  static Status Fatal(std::string_view msg) { return Status(Code::kFatal, msg); }
  static Status WrongType(std::string_view msg) { return Status(Code::kWrongType, msg); }

  bool ok() const { return code_ == Code::kOk; }
  bool IsNotFound() const { return code_ == Code::kNotFound; }
  bool IsCorruption() const { return code_ == Code::kCorruption; }
  bool IsIOError() const { return code_ == Code::kIOError; }
  bool IsNoSpace() const { return code_ == Code::kNoSpace; }
  bool IsInvalidArgument() const { return code_ == Code::kInvalidArgument; }
  bool IsConflict() const { return code_ == Code::kConflict; }
  bool IsBusy() const { return code_ == Code::kBusy; }
  bool IsFatal() const { return code_ == Code::kFatal; }
  bool IsWrongType() const { return code_ == Code::kWrongType; }

  Code code() const { return code_; }
  const std::string& message() const { return message_; }

  // "Corruption: wal/00000001-0000000000000001.wal: bad checksum at offset 4096", or "OK".
  std::string ToString() const;

  // Returns a copy whose message is "<context>: <message>"; OK stays OK.
  Status WithContext(std::string_view context) const;

  static const char* CodeName(Code code);

 private:
  Status(Code code, std::string_view msg) : code_(code), message_(msg) {}

  Code code_ = Code::kOk;
  std::string message_;
};

// A value of type T or a non-OK Status.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : rep_(std::move(value)) {}  // NOLINT: implicit by design, as absl::StatusOr
  Result(Status status) : rep_(std::move(status)) {}  // REQUIRES: !status.ok()

  bool ok() const { return std::holds_alternative<T>(rep_); }
  Status status() const { return ok() ? Status::OK() : std::get<Status>(rep_); }

  // REQUIRES: ok()
  T& value() & { return std::get<T>(rep_); }
  const T& value() const& { return std::get<T>(rep_); }
  T&& value() && { return std::get<T>(std::move(rep_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, Status> rep_;
};

}  // namespace savepoint

// Returns early from the enclosing function when `expr` yields a non-OK Status.
#define SP_RETURN_IF_ERROR(expr)              \
  do {                                        \
    ::savepoint::Status _sp_s = (expr);       \
    if (!_sp_s.ok()) return _sp_s;            \
  } while (0)

#define SP_CONCAT_INNER_(a, b) a##b
#define SP_CONCAT_(a, b) SP_CONCAT_INNER_(a, b)
// SP_ASSIGN_OR_RETURN(auto x, MakeX()): assigns the value or returns the Status.
#define SP_ASSIGN_OR_RETURN(lhs, expr) SP_ASSIGN_OR_RETURN_IMPL_(SP_CONCAT_(_sp_r, __LINE__), lhs, expr)
#define SP_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                              \
  if (!tmp.ok()) return tmp.status();             \
  lhs = std::move(tmp).value()
