// tsrt_serve: an HTTP inference server on libtsrt and cpp-httplib.
//
//   tsrt_serve --port 8000 resnet.pt encoder=bert.pt
//
//   GET  /healthz                  {"status": "ok"}
//   GET  /v1/models                {"models": [model, ...]}
//   GET  /v1/models/NAME           the model: file, methods, inputs (dtype, shape, dynamic dims), outputs
//   POST /v1/models/NAME/infer     {"inputs": {"x": {"shape": [1, 64], "dtype": "float32", "data": [...]}}}
//                                  (or "inputs": [tensor, ...] by position) ->
//                                  {"model": NAME, "outputs": [{"name", "shape", "dtype", "data"}, ...]}
//
// Errors are {"error": {"code", "message"}}: 400 for a bad request (JSON, a missing,
// unknown or mistyped input, as libtsrt's input checks report it), 404 for an
// unknown model or route, 500 when the model fails. The server goes on serving.
// Every request thread shares one loaded tsrt::Model per name: run() is const and
// thread-safe, so there is no lock around it.

#include <signal.h>

#include <chrono>
#include <cstdlib>
#include <iostream>
#include <map>
#include <string>
#include <thread>

#include <httplib.h>

#include "tensor_json.h"
#include "tsrt/error.h"
#include "tsrt/model.h"

namespace {

using tsrt_serve::RequestError;

struct Options {
  std::string host = "127.0.0.1";
  int port = 8000;  // 0: any free port, printed on the "listening" line
  int threads = 8;
  std::string device = "cpu";
  std::vector<std::pair<std::string, std::string>> models;  // (name, path)
};

const char* kUsage =
    "usage: tsrt_serve [--host H] [--port P] [--threads N] [--device cpu|cuda[:N]] MODEL.pt|NAME=MODEL.pt ...\n"
    "  serves each model under /v1/models/NAME (NAME defaults to the file name up to its first dot);\n"
    "  --port 0 picks a free port and prints it.\n";

Options parse_args(int argc, char** argv) {
  Options options;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw std::invalid_argument(arg + " needs a value");
      return argv[++i];
    };
    auto number = [&](const std::string& text) {
      size_t used = 0;
      int parsed = -1;
      try {
        parsed = std::stoi(text, &used);
      } catch (const std::exception&) {
      }
      if (used != text.size() || parsed < 0) throw std::invalid_argument(arg + " expects a number >= 0, got '" + text + "'");
      return parsed;
    };
    if (arg == "--host") {
      options.host = value();
    } else if (arg == "--port") {
      options.port = number(value());
    } else if (arg == "--threads") {
      options.threads = std::max(1, number(value()));
    } else if (arg == "--device") {
      options.device = value();
    } else if (arg == "-h" || arg == "--help") {
      std::cout << kUsage;
      std::exit(0);
    } else if (!arg.empty() && arg[0] == '-') {
      throw std::invalid_argument("unknown flag " + arg);
    } else {
      const size_t eq = arg.find('=');
      std::string path = eq == std::string::npos ? arg : arg.substr(eq + 1);
      std::string name = eq == std::string::npos ? path.substr(path.find_last_of('/') + 1) : arg.substr(0, eq);
      if (eq == std::string::npos) name = name.substr(0, name.find('.'));
      if (name.empty() || name.find('/') != std::string::npos) throw std::invalid_argument("bad model name in '" + arg + "'");
      options.models.emplace_back(name, path);
    }
  }
  if (options.models.empty()) throw std::invalid_argument("give at least one model file");
  return options;
}

void send_json(httplib::Response& res, int status, const nlohmann::json& body) {
  res.status = status;
  res.set_content(body.dump(), "application/json");
}

void send_error(httplib::Response& res, int status, const std::string& code, const std::string& message) {
  send_json(res, status, {{"error", {{"code", code}, {"message", message}}}});
}

// tsrt's error codes as HTTP statuses: the caller's fault is 4xx, the model's 5xx.
int http_status(tsrt::ErrorCode code) {
  switch (code) {
    case tsrt::ErrorCode::kInvalidArgument:
      return 400;
    case tsrt::ErrorCode::kUnsupported:
      return 501;
    default:
      return 500;
  }
}

class Service {
 public:
  explicit Service(std::map<std::string, tsrt::Model> models) : models_(std::move(models)) {}

  const tsrt::Model& model(const std::string& name) const {
    const auto found = models_.find(name);
    if (found == models_.end()) {
      std::string names;
      for (const auto& [known, _] : models_) names += (names.empty() ? "" : ", ") + known;
      throw RequestError(404, "not_found", "no model named '" + name + "'; this server has: " + names);
    }
    return found->second;
  }

  nlohmann::json list() const {
    nlohmann::json models = nlohmann::json::array();
    for (const auto& [name, model] : models_) models.push_back(tsrt_serve::model_to_json(name, model));
    return {{"models", std::move(models)}};
  }

  nlohmann::json infer(const std::string& name, const std::string& body) const {
    const tsrt::Model& model = this->model(name);
    nlohmann::json request;
    try {
      request = nlohmann::json::parse(body);
    } catch (const nlohmann::json::parse_error& error) {
      throw RequestError(400, "invalid_json", std::string("the request body is not JSON: ") + error.what());
    }
    if (!request.is_object() || !request.contains("inputs")) {
      throw RequestError(400, "invalid_argument",
                         "expected {\"inputs\": {NAME: tensor, ...}} or {\"inputs\": [tensor, ...]}, where a tensor is "
                         "{\"shape\": [...], \"dtype\": \"float32\", \"data\": [...]}");
    }
    const nlohmann::json& inputs = request["inputs"];
    const std::string method = request.value("method", std::string("forward"));
    c10::IValue output;
    if (inputs.is_object()) {
      std::map<std::string, c10::IValue> named;
      for (const auto& [input, value] : inputs.items()) {
        named.emplace(input, tsrt_serve::tensor_from_json(value, "input '" + input + "'"));
      }
      output = model.run(method, named);
    } else if (inputs.is_array()) {
      std::vector<c10::IValue> positional;
      for (size_t i = 0; i < inputs.size(); ++i) {
        positional.emplace_back(tsrt_serve::tensor_from_json(inputs[i], "input " + std::to_string(i)));
      }
      output = model.run(method, std::move(positional));
    } else {
      throw RequestError(400, "invalid_argument", "\"inputs\" must be an object (by name) or a list (by position)");
    }
    const tsrt::ModelMetadata* metadata = model.metadata() ? &*model.metadata() : nullptr;
    const tsrt::MethodMetadata* described = metadata ? metadata->method(method) : nullptr;
    return {{"model", name},
            {"outputs", tsrt_serve::outputs_to_json(output, described ? described->output_names
                                                                      : std::vector<std::string>{})}};
  }

 private:
  std::map<std::string, tsrt::Model> models_;
};

// Runs `handler`, turning every failure into a JSON error response.
template <typename Handler>
void guarded(httplib::Response& res, Handler&& handler) {
  try {
    handler();
  } catch (const RequestError& error) {
    send_error(res, error.status, error.code, error.what());
  } catch (const tsrt::Error& error) {
    send_error(res, http_status(error.code()), tsrt::error_code_name(error.code()), error.what());
  } catch (const std::exception& error) {
    send_error(res, 500, "internal", error.what());
  }
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  try {
    options = parse_args(argc, argv);
  } catch (const std::invalid_argument& error) {
    std::cerr << "tsrt_serve: " << error.what() << "\n" << kUsage;
    return 2;
  }

  std::map<std::string, tsrt::Model> models;
  tsrt::LoadOptions load_options;
  load_options.device = options.device;
  for (const auto& [name, path] : options.models) {
    if (models.count(name)) {
      std::cerr << "tsrt_serve: two models named '" << name << "'; name them: NAME=PATH\n";
      return 2;
    }
    try {
      models.emplace(name, tsrt::Model::load(path, load_options));
    } catch (const tsrt::Error& error) {
      std::cerr << "tsrt_serve: can't load model '" << name << "': " << error.what() << "\n";
      return error.code() == tsrt::ErrorCode::kIO ? 2 : 1;
    }
  }
  const Service service(std::move(models));

  // SIGINT/SIGTERM stop the server from a thread of its own: stop() is not async-signal-safe.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);  // inherited by every thread started below

  httplib::Server server;
  const int threads = options.threads;
  server.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  server.set_payload_max_length(64u << 20);
  server.Get("/healthz", [](const httplib::Request&, httplib::Response& res) { send_json(res, 200, {{"status", "ok"}}); });
  server.Get("/v1/models", [&](const httplib::Request&, httplib::Response& res) {
    guarded(res, [&] { send_json(res, 200, service.list()); });
  });
  server.Get(R"(/v1/models/([^/]+))", [&](const httplib::Request& req, httplib::Response& res) {
    guarded(res, [&] {
      const std::string name = req.matches[1];
      send_json(res, 200, tsrt_serve::model_to_json(name, service.model(name)));
    });
  });
  // Read the body through a content reader: httplib's plain handlers cap bodies sent as
  // application/x-www-form-urlencoded (curl -d's default) at 8 KiB with a 413.
  server.Post(R"(/v1/models/([^/]+)/infer)",
              [&](const httplib::Request& req, httplib::Response& res, const httplib::ContentReader& read) {
                std::string body;
                const bool complete = read([&body](const char* data, size_t length) {
                  body.append(data, length);
                  return true;
                });
                if (!complete) {  // httplib set 413 when it was too large; the error handler writes the JSON
                  if (res.status < 400) res.status = 400;
                  return;
                }
                guarded(res, [&] { send_json(res, 200, service.infer(req.matches[1], body)); });
              });
  // Unrouted paths and httplib's own refusals (413 payload too large, 400 bad HTTP) get JSON too.
  server.set_error_handler(httplib::Server::HandlerWithResponse([](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;  // ours, already JSON
    const std::string code = res.status == 404 ? "not_found" : res.status == 413 ? "too_large" : "bad_request";
    const std::string what = res.status == 404   ? "no such route; see GET /v1/models"
                             : res.status == 413 ? "the request body is over 64 MiB"
                             : res.status == 400 ? "could not read the request"
                                                 : "HTTP status " + std::to_string(res.status);
    send_error(res, res.status, code, req.method + " " + req.path + ": " + what);
    return httplib::Server::HandlerResponse::Handled;
  }));

  const int port = options.port == 0 ? server.bind_to_any_port(options.host)
                                     : (server.bind_to_port(options.host, options.port) ? options.port : -1);
  if (port < 0) {
    std::cerr << "tsrt_serve: can't listen on " << options.host << ":" << options.port << " (in use, or not an address here)\n";
    return 1;
  }
  std::thread stopper([&server, stop_signals] {
    int signal_number = 0;
    sigwait(&stop_signals, &signal_number);
    server.stop();
  });
  stopper.detach();
  std::string names;
  for (const auto& [name, _] : options.models) names += (names.empty() ? "" : ", ") + name;
  std::cout << "tsrt_serve: listening on http://" << options.host << ":" << port << " (models: " << names << ")"
            << std::endl;
  const bool clean = server.listen_after_bind();
  std::cout << "tsrt_serve: stopped" << std::endl;
  return clean ? 0 : 1;
}
