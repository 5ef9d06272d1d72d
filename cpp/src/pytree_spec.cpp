#include "pytree_spec.h"

#include <nlohmann/json.hpp>

#include <stdexcept>

namespace tsrt::detail {
namespace {

TreeSpec parse_node(const nlohmann::json& node) {
  TreeSpec spec;
  const nlohmann::json& type = node.at("type");
  if (type.is_null()) return spec;  // a leaf
  const std::string name = type.get<std::string>();
  if (name == "builtins.tuple") {
    spec.kind = TreeSpec::Kind::kTuple;
  } else if (name == "builtins.list") {
    spec.kind = TreeSpec::Kind::kList;
  } else if (name == "builtins.dict" || name == "collections.OrderedDict") {
    spec.kind = TreeSpec::Kind::kDict;
    // The context is itself JSON text: the list of keys.
    const nlohmann::json keys = nlohmann::json::parse(node.at("context").get<std::string>());
    for (const auto& key : keys) {
      if (key.is_string()) {
        spec.keys.emplace_back(key.get<std::string>());
      } else if (key.is_number_integer()) {
        spec.keys.emplace_back(key.get<int64_t>());
      } else {
        throw std::invalid_argument("dict key " + key.dump() + " is neither str nor int");
      }
    }
  } else if (name == "builtins.NoneType") {
    spec.kind = TreeSpec::Kind::kNone;
  } else {
    throw std::invalid_argument("pytree node type '" + name + "'");
  }
  for (const auto& child : node.at("children_spec")) spec.children.push_back(parse_node(child));
  if (spec.kind == TreeSpec::Kind::kDict && spec.keys.size() != spec.children.size()) {
    throw std::invalid_argument("dict node with " + std::to_string(spec.keys.size()) + " keys and " +
                                std::to_string(spec.children.size()) + " values");
  }
  return spec;
}

}  // namespace

size_t TreeSpec::leaf_count() const {
  if (kind == Kind::kLeaf) return 1;
  size_t count = 0;
  for (const TreeSpec& child : children) count += child.leaf_count();
  return count;
}

std::string TreeSpec::to_string() const {
  auto joined = [&] {
    std::string text;
    for (const TreeSpec& child : children) text += (text.empty() ? "" : ", ") + child.to_string();
    return text;
  };
  switch (kind) {
    case Kind::kLeaf: return "Tensor";
    case Kind::kNone: return "None";
    case Kind::kTuple: return "Tuple[" + joined() + "]";
    case Kind::kList: return "List[" + joined() + "]";
    case Kind::kDict: return std::string("Dict[") + (keys.empty() || keys[0].isString() ? "str" : "int") + ", ...]";
  }
  return "?";
}

c10::IValue TreeSpec::unflatten(const std::vector<at::Tensor>& leaves, size_t& next) const {
  switch (kind) {
    case Kind::kLeaf:
      if (next >= leaves.size()) throw std::out_of_range("the model returned fewer tensors than its output spec");
      return leaves[next++];
    case Kind::kNone: return c10::IValue();
    case Kind::kTuple: {
      std::vector<c10::IValue> elements;
      for (const TreeSpec& child : children) elements.push_back(child.unflatten(leaves, next));
      return c10::ivalue::Tuple::create(std::move(elements));
    }
    case Kind::kList: {
      // A list of tensors is List[Tensor], as TorchScript returns it; anything else a generic list.
      bool tensors = true;
      for (const TreeSpec& child : children) tensors &= child.kind == Kind::kLeaf;
      if (tensors) {
        c10::List<at::Tensor> list;
        for (const TreeSpec& child : children) list.push_back(child.unflatten(leaves, next).toTensor());
        return list;
      }
      c10::impl::GenericList list(c10::AnyType::get());
      for (const TreeSpec& child : children) list.push_back(child.unflatten(leaves, next));
      return list;
    }
    case Kind::kDict: {
      const bool string_keys = keys.empty() || keys[0].isString();
      const c10::TypePtr key_type = string_keys ? c10::TypePtr(c10::StringType::get()) : c10::TypePtr(c10::IntType::get());
      c10::impl::GenericDict dict(key_type, c10::AnyType::get());
      for (size_t i = 0; i < children.size(); ++i) dict.insert(keys[i], children[i].unflatten(leaves, next));
      return dict;
    }
  }
  return c10::IValue();
}

TreeSpec parse_tree_spec(const std::string& text) {
  const nlohmann::json doc = nlohmann::json::parse(text);
  // treespec_dumps writes [protocol, tree].
  if (!doc.is_array() || doc.size() != 2) throw std::invalid_argument("not a [protocol, tree] pair");
  return parse_node(doc[1]);
}

}  // namespace tsrt::detail
