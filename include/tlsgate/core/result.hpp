#pragma once

#include <cassert>
#include <string>
#include <utility>
#include <variant>

// The one error idiom for a fallible function that has one reason to fail: it returns
// Result<T> (or Result<> when there is no value). A caller must look at it ([[nodiscard]]).
//
//     Result<Address> parse(std::string_view text) {
//         if (text.empty()) return Error{"empty address"};
//         return Address{...};
//     }
//     auto address = parse(text);
//     if (!address) return address.error();   // propagate the same Error
//     use(*address);
//
// Functions that report many problems at once (the config loaders, context building) keep
// their lists of config::ConfigError: those are collections, not one failure.
// std::expected is C++23 and Debian 12 packages no tl::expected, hence this small type.
namespace tlsgate {

// What went wrong, as one line for a log or an operator: no trailing period, no newline.
struct Error {
    std::string message;
};

template <typename T = void> class [[nodiscard]] Result {
public:
    Result(T value) : state_(std::in_place_index<0>, std::move(value)) {}
    Result(Error error) : state_(std::in_place_index<1>, std::move(error)) {}

    bool ok() const { return state_.index() == 0; }
    explicit operator bool() const { return ok(); }

    T& value() & {
        assert(ok());
        return std::get<0>(state_);
    }
    const T& value() const& {
        assert(ok());
        return std::get<0>(state_);
    }
    T&& value() && {
        assert(ok());
        return std::get<0>(std::move(state_));
    }
    T& operator*() & { return value(); }
    const T& operator*() const& { return value(); }
    T* operator->() { return &value(); }
    const T* operator->() const { return &value(); }

    const Error& error() const {
        assert(!ok());
        return std::get<1>(state_);
    }

private:
    std::variant<T, Error> state_;
};

template <> class [[nodiscard]] Result<void> {
public:
    Result() = default;
    Result(Error error) : error_(std::move(error)), failed_(true) {}

    bool ok() const { return !failed_; }
    explicit operator bool() const { return ok(); }
    const Error& error() const {
        assert(failed_);
        return error_;
    }

private:
    Error error_;
    bool failed_ = false;
};

} // namespace tlsgate
