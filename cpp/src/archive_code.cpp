#include "archive_code.h"

#include <torch/csrc/jit/runtime/operator.h>

#include <cctype>

namespace tsrt::detail {
namespace {

struct Token {
  enum Kind { kName, kDot, kOpenParen, kOther } kind;
  std::string text;
};

bool name_start(char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_'; }
bool name_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }

// Python's lexical structure as far as the scan needs it: names, dots and opening
// parentheses; string literals (any quote, triple or not, with escapes) and
// comments are skipped so that text inside them is never read as a call.
// Whitespace and line continuations between tokens do not matter: `torch . f (`
// is a call the compiler accepts, so it is one here too.
std::vector<Token> tokenize(const std::string& text) {
  std::vector<Token> tokens;
  size_t i = 0;
  const size_t n = text.size();
  while (i < n) {
    const char c = text[i];
    if (c == '#') {
      while (i < n && text[i] != '\n') ++i;
    } else if (c == '"' || c == '\'') {
      const bool triple = i + 2 < n && text[i + 1] == c && text[i + 2] == c;
      i += triple ? 3 : 1;
      while (i < n) {
        if (text[i] == '\\') {
          i += 2;
        } else if (triple && i + 2 < n && text[i] == c && text[i + 1] == c && text[i + 2] == c) {
          i += 3;
          break;
        } else if (!triple && text[i] == c) {
          ++i;
          break;
        } else {
          ++i;
        }
      }
      tokens.push_back({Token::kOther, ""});
    } else if (name_start(c)) {
      const size_t start = i;
      while (i < n && name_char(text[i])) ++i;
      tokens.push_back({Token::kName, text.substr(start, i - start)});
    } else if (c == '.') {
      tokens.push_back({Token::kDot, "."});
      ++i;
    } else if (c == '(') {
      tokens.push_back({Token::kOpenParen, "("});
      ++i;
    } else if (std::isspace(static_cast<unsigned char>(c)) || c == '\\') {
      ++i;
    } else {
      tokens.push_back({Token::kOther, std::string(1, c)});
      ++i;
    }
  }
  return tokens;
}

bool is_registered(const std::string& qualified) {
  return !torch::jit::getAllOperatorsFor(c10::Symbol::fromQualString(qualified)).empty();
}

bool is(const std::vector<Token>& tokens, size_t i, Token::Kind kind, const char* text = nullptr) {
  return i < tokens.size() && tokens[i].kind == kind && (text == nullptr || tokens[i].text == text);
}

}  // namespace

void scan_code_text(const std::string& text, const std::string& record, ArchiveCode& code) {
  const std::vector<Token> tokens = tokenize(text);
  const auto add = [&](const std::string& op) { code.operators.emplace(op, record); };
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (tokens[i].kind != Token::kName) continue;
    const std::string& name = tokens[i].text;
    const bool after_dot = i > 0 && tokens[i - 1].kind == Token::kDot;
    if (!after_dot && name == "def" && is(tokens, i + 1, Token::kName, "__setstate__")) {
      code.runs_at_load.push_back(record);
    } else if (!after_dot && name == "raise") {
      add("prim::RaiseException");
    } else if (!after_dot && name == "print" && is(tokens, i + 1, Token::kOpenParen)) {
      add("prim::Print");
    } else if (name == "ops" && is(tokens, i + 1, Token::kDot) && is(tokens, i + 2, Token::kName) &&
               is(tokens, i + 3, Token::kDot) && is(tokens, i + 4, Token::kName) &&
               is(tokens, i + 5, Token::kOpenParen)) {
      // ops.ns.name( and torch.ops.ns.name(: listed whether or not the namespace is
      // registered, since an allow-list decides on the name alone.
      add(tokens[i + 2].text + "::" + tokens[i + 4].text);
      i += 4;
    } else if (after_dot && is(tokens, i + 1, Token::kOpenParen) && is_registered("aten::" + name)) {
      add("aten::" + name);
    }
  }
}

ArchiveCode scan_archive_code(const std::string& path, const std::vector<ArchiveEntry>& entries) {
  ArchiveCode code;
  for (const ArchiveEntry& entry : entries) {
    // "<archive>/code/<module path>.py": the top folder is the archive's own name.
    const std::string relative = record_name(entry.name);
    const bool source = relative.rfind("code/", 0) == 0 && relative.size() > 3 &&
                        relative.compare(relative.size() - 3, 3, ".py") == 0;
    if (source) scan_code_text(read_entry(path, entry), relative, code);
  }
  return code;
}

}  // namespace tsrt::detail
