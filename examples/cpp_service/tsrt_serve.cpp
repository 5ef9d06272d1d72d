// tsrt_serve: an Open Inference Protocol (KServe v2) REST server on libtsrt and
// cpp-httplib; the same client code (tritonclient.http, KServe's) runs against it
// and against Triton.
//
//   tsrt_serve --port 8000 resnet.pt encoder=bert.pt
//
//   GET  /v2/health/live, /v2/health/ready           200 (ready: 503 while shutting down)
//   GET  /v2                                          server metadata, extensions
//   GET  /v2/models/NAME[/versions/1]/ready           200, or 404 for an unknown model
//   GET  /v2/models/NAME[/versions/1]                 inputs/outputs: name, datatype, shape (-1: varies)
//   POST /v2/models/NAME[/versions/1]/infer           JSON tensors, or the binary tensor data extension
//   GET  /metrics                                     Prometheus text format (metrics.h)
//
// Errors are {"error": "..."}: 400 for a bad request (JSON, a missing, unknown or
// mistyped input, as oip.cpp and libtsrt's input checks report it), 404 for an
// unknown model or route, 413 for a body over --max-body-mb, 500 when the model fails.
// The server goes on serving. This file is the HTTP wiring only: oip.cpp speaks the
// protocol, model_info.cpp describes the models, batcher.cpp stacks requests
// (--batch), metrics.cpp counts.

#include <malloc.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>

#include <httplib.h>

#include "batcher.h"
#include "connection_watchdog.h"
#include "http_limits.h"
#include "metrics.h"
#include "model_info.h"
#include "oip.h"
#include "tsrt/benchmark.h"
#include "tsrt/error.h"
#include "tsrt/model.h"
#include "tsrt/model_summary.h"
#include "tsrt/version.h"

namespace {

using tsrt_serve::ProtocolError;

struct Options {
  std::string host = "127.0.0.1";
  int port = 8000;  // 0: any free port, printed on the "listening" line
  int threads = 16;  // HTTP worker threads: each holds one connection (keep-alive included)
  int max_body_mb = 64;
  int read_timeout_s = 5;  // a client that stops sending for this long is dropped
  std::string device = "cpu";
  int intra_op_threads = 0;  // LibTorch's intra-op threads for each forward call; 0: its default (the cores)
  std::vector<std::string> batch;  // models to batch; "all": every model that can be
  tsrt_serve::BatchOptions batching;
  std::vector<std::pair<std::string, std::string>> models;  // (name, path)
  std::string allowed_operators;   // a file of operators (tsrt::read_operator_list); "": no allow-list
  std::vector<std::string> libraries;  // operator libraries loaded before the models
};

const char* kUsage =
    "usage: tsrt_serve [--host H] [--port P] [--threads N] [--device cpu|cuda[:N]]\n"
    "                  [--max-body-mb M] [--read-timeout-s S] [--intra-op-threads T]\n"
    "                  [--batch NAME|all ...] [--max-batch ROWS] [--batch-delay-us U] [--batch-workers W]\n"
    "                  [--allowed-operators FILE] [--load-library PATH ...]\n"
    "                  MODEL.pt|NAME=MODEL.pt ...\n"
    "  serves each model under /v2/models/NAME (NAME defaults to the file name up to its first dot);\n"
    "  --port 0 picks a free port and prints it; --threads is the number of connections served at once;\n"
    "  --batch stacks requests for NAME that arrive within --batch-delay-us (default 2000) into one call\n"
    "  of up to --max-batch rows (default 32), run by --batch-workers threads a model (default 1);\n"
    "  --intra-op-threads sets LibTorch's threads for each forward call (default: one a core);\n"
    "  --allowed-operators refuses, before it runs, a model using an operator not in FILE (as infer's);\n"
    "  --load-library loads an operator library (.so) before the models (e.g. tsrt torchvision-ops-library);\n"
    "  --version prints tsrt's version; every --flag value may be given as --flag=value.\n";

Options parse_args(int argc, char** argv) {
  Options options;
  for (int i = 1; i < argc; ++i) {
    // --flag=value is --flag value (GNU style, as infer takes it).
    std::string arg = argv[i];
    std::optional<std::string> attached;
    if (const size_t eq = arg.find('='); arg.rfind("--", 0) == 0 && eq != std::string::npos) {
      attached = arg.substr(eq + 1);
      arg.resize(eq);
      if (arg == "--help" || arg == "--version") throw std::invalid_argument(arg + " takes no value, got '" + argv[i] + "'");
    }
    auto value = [&]() -> std::string {
      if (attached) return *std::exchange(attached, std::nullopt);
      if (i + 1 >= argc) throw std::invalid_argument(arg + " needs a value");
      return argv[++i];
    };
    // Digits only, within [low, high]: "--port 70000" used to print 70000 and bind 4464
    // (the port is 16 bits), "--threads 0" was quietly 1.
    auto number = [&](const std::string& text, long low, long high) {
      const bool digits = !text.empty() && text.size() <= 9 && text.find_first_not_of("0123456789") == std::string::npos;
      const long parsed = digits ? std::stol(text) : -1;
      if (!digits || parsed < low || parsed > high) {
        throw std::invalid_argument(arg + " expects a number from " + std::to_string(low) + " to " + std::to_string(high) +
                                    ", got '" + text + "'");
      }
      return static_cast<int>(parsed);
    };
    if (arg == "--host") {
      options.host = value();
    } else if (arg == "--port") {
      options.port = number(value(), 0, 65535);
    } else if (arg == "--threads") {
      options.threads = number(value(), 1, 4096);
    } else if (arg == "--max-body-mb") {
      options.max_body_mb = number(value(), 1, 1 << 20);
    } else if (arg == "--read-timeout-s") {
      options.read_timeout_s = number(value(), 1, 3600);
    } else if (arg == "--batch") {
      options.batch.push_back(value());
    } else if (arg == "--max-batch") {
      options.batching.max_batch = number(value(), 1, 1 << 16);
    } else if (arg == "--batch-workers") {
      options.batching.workers = number(value(), 1, 256);
    } else if (arg == "--intra-op-threads") {
      options.intra_op_threads = number(value(), 0, 4096);
    } else if (arg == "--batch-delay-us") {
      options.batching.max_delay = std::chrono::microseconds(number(value(), 0, 10000000));
    } else if (arg == "--device") {
      options.device = value();
    } else if (arg == "--allowed-operators") {
      options.allowed_operators = value();
    } else if (arg == "--load-library") {
      options.libraries.push_back(value());
    } else if (arg == "-h" || arg == "--help") {
      std::cout << kUsage;
      std::exit(0);
    } else if (arg == "--version") {
      std::cout << "tsrt_serve (tsrt) " << tsrt::kVersion << ", built against LibTorch " << tsrt::kTorchVersion << "\n";
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
    if (attached) throw std::invalid_argument(arg + " takes no value, got '" + argv[i] + "'");
  }
  if (options.models.empty()) throw std::invalid_argument("give at least one model file");
  return options;
}

void send_json(httplib::Response& res, int status, const nlohmann::json& body) {
  res.status = status;
  res.set_content(tsrt_serve::dump_json(body), "application/json");  // never throws on a client's bytes
}

void send_error(httplib::Response& res, int status, const std::string& message) {
  send_json(res, status, {{"error", message}});
}

// tsrt's error codes as HTTP statuses: the caller's fault is 4xx, the model's 5xx.
int http_status(tsrt::ErrorCode code) { return code == tsrt::ErrorCode::kInvalidArgument ? 400 : 500; }

struct ServedModel {
  tsrt::Model model;
  tsrt_serve::ModelInfo info;
  std::unique_ptr<tsrt_serve::Batcher> batcher;  // null: each request runs on its own
};

class Service {
 public:
  explicit Service(std::map<std::string, ServedModel> models) : models_(std::move(models)) {}

  // NAME, and the version when the path has one: every model here is version "1".
  const ServedModel& model(const std::string& name, const std::string& version = "") const {
    const auto found = models_.find(name);
    if (found == models_.end()) throw ProtocolError(404, "no model named '" + tsrt_serve::excerpt_text(name) + "'; this server has: " + names());
    if (!version.empty() && version != "1") {
      throw ProtocolError(404, "model '" + name + "' has no version '" + tsrt_serve::excerpt_text(version) + "'; it has version 1");
    }
    return found->second;
  }

  std::string names() const {
    std::string names;
    for (const auto& [known, _] : models_) names += (names.empty() ? "" : ", ") + known;
    return names;
  }

  // The batcher of model `name`, or null.
  tsrt_serve::Batcher* batcher(const std::string& name) const {
    const auto found = models_.find(name);
    return found == models_.end() ? nullptr : found->second.batcher.get();
  }

  tsrt_serve::EncodedResponse infer(const std::string& name, const std::string& version, const std::string& body,
                                    std::optional<size_t> header_length,
                                    std::optional<tsrt_serve::Batcher::Ticket>& ticket) const {
    const ServedModel& served = model(name, version);
    const tsrt_serve::InferRequest request = tsrt_serve::parse_infer_request(body, header_length);
    if (!served.model.has_method(request.method)) {
      throw ProtocolError(400, "model '" + name + "' has no method '" + tsrt_serve::excerpt_text(request.method) + "'");
    }
    const bool batched = served.batcher && request.method == "forward";
    if (!batched) ticket.reset();  // not coming to the batcher
    const c10::IValue output = batched ? served.batcher->run(request.inputs, ticket ? &*ticket : nullptr)
                                       : served.model.run(request.method, request.inputs);
    const tsrt::MethodMetadata* described =
        served.model.metadata() ? served.model.metadata()->method(request.method) : nullptr;
    return tsrt_serve::encode_infer_response(name, request, output,
                                             described ? described->output_names : std::vector<std::string>{});
  }

 private:
  std::map<std::string, ServedModel> models_;
};

// Runs `handler`, turning every failure into a protocol error response; returns the status.
template <typename Handler>
int guarded(httplib::Response& res, Handler&& handler) {
  try {
    handler();
  } catch (const ProtocolError& error) {
    send_error(res, error.status, error.what());
  } catch (const tsrt::Error& error) {
    send_error(res, http_status(error.code()), error.what());
  } catch (const std::exception& error) {
    send_error(res, 500, std::string("internal error: ") + error.what());
  } catch (...) {
    send_error(res, 500, "internal error");
  }
  return res.status;
}

// Inference-Header-Content-Length: digits only, or a 400.
std::optional<size_t> header_length(const httplib::Request& req) {
  if (!req.has_header("Inference-Header-Content-Length")) return std::nullopt;
  const std::string text = req.get_header_value("Inference-Header-Content-Length");
  if (text.empty() || text.size() > 18 || text.find_first_not_of("0123456789") != std::string::npos) {
    throw ProtocolError(400, "Inference-Header-Content-Length must be a byte count, got '" + tsrt_serve::excerpt_text(text) + "'");
  }
  return std::stoull(text);
}

const char* kModelPath = R"(/v2/models/([^/]+)(?:/versions/([^/]+))?)";

}  // namespace

int main(int argc, char** argv) {
  Options options;
  try {
    options = parse_args(argc, argv);
  } catch (const std::invalid_argument& error) {
    std::cerr << "tsrt_serve: " << error.what() << "\n" << kUsage;
    return 2;
  }

  // Request bodies and tensors of 100 KiB to MiBs come and go on many threads. glibc
  // raises its mmap threshold after each such block is freed, after which they come from
  // per-thread arenas that keep the freed memory: under scripts/serve_load.py that grew
  // RSS by 60-100 MiB over a minute before it levelled off. A fixed threshold returns
  // them to the system on free (RSS within 3 MiB over the same run, same throughput).
  mallopt(M_MMAP_THRESHOLD, 128 << 10);
  // A client that disconnects before reading its answer must not kill the server:
  // writing to its socket raises SIGPIPE, whose default action is to exit.
  signal(SIGPIPE, SIG_IGN);
  // SIGINT/SIGTERM stop the server from a thread of its own: stop() is not async-signal-safe.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);  // inherited by every thread started below,
  // LibTorch's intra-op pool included: blocked before the first model runs

  tsrt::set_intra_op_threads(options.intra_op_threads);  // before the first model runs
  std::map<std::string, ServedModel> models;
  tsrt::LoadOptions load_options;
  load_options.device = options.device;
  load_options.libraries = options.libraries;
  if (!options.allowed_operators.empty()) {
    try {
      load_options.allowed_operators = tsrt::read_operator_list(options.allowed_operators);
    } catch (const tsrt::Error& error) {
      std::cerr << "tsrt_serve: --allowed-operators: " << error.what() << "\n";
      return 2;
    }
  }
  for (const auto& [name, path] : options.models) {
    if (models.count(name)) {
      std::cerr << "tsrt_serve: two models named '" << name << "'; name them: NAME=PATH\n";
      return 2;
    }
    try {
      tsrt::Model model = tsrt::Model::load(path, load_options);
      tsrt_serve::ModelInfo info = tsrt_serve::describe_model(name, model);
      models.emplace(name, ServedModel{std::move(model), std::move(info)});
    } catch (const tsrt::Error& error) {
      std::cerr << "tsrt_serve: can't load model '" << name << "': " << error.what() << "\n";
      return error.code() == tsrt::ErrorCode::kIO ? 2 : 1;
    }
  }
  // --batch: a model that can't be batched is an error when named, skipped under "all".
  const bool batch_all = std::find(options.batch.begin(), options.batch.end(), "all") != options.batch.end();
  for (const std::string& name : options.batch) {
    if (name != "all" && !models.count(name)) {
      std::cerr << "tsrt_serve: --batch " << name << ": no model of that name\n";
      return 2;
    }
  }
  std::vector<std::string> model_names;
  for (const auto& [name, _] : models) model_names.push_back(name);
  tsrt_serve::Metrics metrics(model_names);
  for (auto& [name, served] : models) {
    const bool named = std::find(options.batch.begin(), options.batch.end(), name) != options.batch.end();
    if (!named && !batch_all) continue;
    std::string why_not;
    try {
      why_not = tsrt_serve::check_rows_independent(served.model, served.info);
    } catch (const tsrt::Error& error) {
      why_not = std::string("forward failed on stacked inputs: ") + error.what();
    }
    if (!why_not.empty()) {
      std::cerr << "tsrt_serve: can't batch model '" << name << "': " << why_not << "\n";
      if (named) return 2;
      continue;
    }
    served.batcher = std::make_unique<tsrt_serve::Batcher>(served.model, name, options.batching, metrics);
    std::cout << "tsrt_serve: batching '" << name << "' (up to " << options.batching.max_batch << " rows, "
              << options.batching.max_delay.count() << " us, " << options.batching.workers << " runner"
              << (options.batching.workers == 1 ? "" : "s") << ")" << std::endl;
  }
  const Service service(std::move(models));

  std::atomic<bool> draining{false};

  // --read-timeout-s as a per-request deadline (connection_watchdog.h): httplib's own is per read.
  tsrt_serve::ConnectionWatchdog watchdog(std::chrono::seconds(options.read_timeout_s));
  httplib::Server server;
  const int threads = options.threads;
  server.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  server.set_payload_max_length(static_cast<size_t>(options.max_body_mb) << 20);  // Content-Length bodies
  server.set_read_timeout(options.read_timeout_s, 0);
  // httplib writes a response's headers and body in two sends; with Nagle's algorithm on,
  // the second waits for the client's delayed ACK: 40 ms on every small answer.
  server.set_tcp_nodelay(true);
  // httplib closes a keep-alive connection after 5 requests by default, and listens with a
  // backlog of 5: 32 clients reconnecting every 5 requests overflowed it and saw
  // connection resets. Keep connections for longer, and raise the backlog below.
  server.set_keep_alive_max_count(10000);
  int listen_socket = -1;
  server.set_socket_options([&listen_socket](socket_t sock) {
    httplib::default_socket_options(sock);
    listen_socket = sock;
  });

  server.Get("/v2/health/live", [](const httplib::Request&, httplib::Response& res) { send_json(res, 200, {{"live", true}}); });
  server.Get("/v2/health/ready", [&](const httplib::Request&, httplib::Response& res) {
    if (draining) return send_error(res, 503, "shutting down");
    send_json(res, 200, {{"ready", true}});
  });
  server.Get("/metrics", [&](const httplib::Request&, httplib::Response& res) {
    res.set_content(metrics.render(), "text/plain; version=0.0.4");
  });
  server.Get("/v2", [](const httplib::Request&, httplib::Response& res) {
    send_json(res, 200, {{"name", "tsrt_serve"}, {"version", tsrt::kVersion}, {"extensions", {"binary_tensor_data"}}});
  });
  server.Get(std::string(kModelPath) + "/ready", [&](const httplib::Request& req, httplib::Response& res) {
    guarded(res, [&] {
      service.model(req.matches[1], req.matches[2]);
      send_json(res, 200, {{"name", std::string(req.matches[1])}, {"ready", true}});
    });
  });
  server.Get(kModelPath, [&](const httplib::Request& req, httplib::Response& res) {
    guarded(res, [&] { send_json(res, 200, tsrt_serve::model_metadata_json(service.model(req.matches[1], req.matches[2]).info)); });
  });
  // The body goes through a content reader: httplib's plain handlers cap bodies sent as
  // application/x-www-form-urlencoded at 8 KiB, and binary bodies are no form.
  const size_t max_body_bytes = static_cast<size_t>(options.max_body_mb) << 20;
  server.Post(std::string(kModelPath) + "/infer",
              [&](const httplib::Request& req, httplib::Response& res, const httplib::ContentReader& read) {
                const auto started = std::chrono::steady_clock::now();
                const std::string name = req.matches[1];
                const tsrt_serve::Metrics::InFlight in_flight(metrics, name);
                // Announced before the body is read: a batch forming now waits for this request.
                std::optional<tsrt_serve::Batcher::Ticket> ticket;
                if (tsrt_serve::Batcher* batcher = service.batcher(name)) ticket.emplace(*batcher);
                std::string body;
                bool too_large = false;
                const bool complete = read([&](const char* data, size_t length) {
                  // httplib holds a Content-Length body to set_payload_max_length, but not the sum of
                  // a chunked body's chunks nor a gzip/deflate body once inflated: both arrive here,
                  // inflated, a piece at a time, and stop at the limit.
                  if (length > max_body_bytes - body.size()) {
                    too_large = true;
                    return false;
                  }
                  body.append(data, length);
                  return true;
                });
                watchdog.request_began(req);  // all in: from now on the model's time, not the client's
                if (!complete) {  // the error handler writes the JSON
                  res.status = too_large ? 413 : res.status < 400 ? 400 : res.status;
                  if (too_large) {  // the rest of the body is unread: close, as above
                    send_error(res, 413, "POST " + tsrt_serve::excerpt_text(req.path) + ": the request body is over " +
                                             std::to_string(options.max_body_mb) + " MiB");
                    tsrt_serve::answer_and_close(req, res.status, res.body);
                  }
                  metrics.observe_request(name, res.status, 0.0);
                  return;
                }
                const int status = guarded(res, [&] {
                  const tsrt_serve::EncodedResponse response = service.infer(req.matches[1], req.matches[2], body, header_length(req), ticket);
                  res.status = 200;
                  if (response.header_length) {
                    res.set_header("Inference-Header-Content-Length", std::to_string(*response.header_length));
                    res.set_content(response.body, "application/octet-stream");
                  } else {
                    res.set_content(response.body, "application/json");
                  }
                });
                metrics.observe_request(name, status, std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
              });
  server.set_logger([&watchdog](const httplib::Request& req, const httplib::Response&) { watchdog.request_answered(req); });
  server.set_pre_routing_handler([&watchdog](const httplib::Request& req, httplib::Response& res) {
    // The infer route's body is still to come: its wait counts until the handler has read it.
    if (!tsrt_serve::is_infer_route(req)) watchdog.request_began(req);
    // Range: our answers are computed, not files; a POST's answer cut into thousands of
    // multipart ranges was a 28 MB reply to a 10 KB page. Ignored, as RFC 9110 lets a server
    // do. The Request is httplib's own non-const object, handed to hooks as const.
    const_cast<httplib::Request&>(req).ranges.clear();
    const std::optional<tsrt_serve::Refusal> refusal = tsrt_serve::refuse_before_reading(req);
    if (!refusal) return httplib::Server::HandlerResponse::Unhandled;
    send_error(res, refusal->status, refusal->message);
    // Its body, if any, is never read: the connection closes, or those bytes would be read as
    // the next request (measured: a 400 for two Content-Lengths, then a 200 for the GET that
    // was the body). httplib 0.11.4 keeps a connection open whatever the response says.
    tsrt_serve::answer_and_close(req, res.status, res.body);
    return httplib::Server::HandlerResponse::Handled;
  });
  // Unrouted paths and httplib's own refusals (413 payload too large, 400 bad HTTP) get JSON too.
  const size_t max_body_mb = options.max_body_mb;
  server.set_error_handler(httplib::Server::HandlerWithResponse([max_body_mb](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;  // ours, already JSON
    // The path and method are the client's bytes (GET /v2/%FF decodes to an invalid UTF-8 byte,
    // which aborted the process when this handler's dump() threw): quoted cut short, written with
    // dump_json, and nothing may escape from here, where httplib catches nothing.
    try {
      const std::string what = res.status == 404   ? "no such route; see GET /v2 and GET /v2/models/NAME"
                               : res.status == 413 ? "the request body is over " + std::to_string(max_body_mb) + " MiB"
                               : res.status == 400 ? "could not read the request"
                                                   : "HTTP status " + std::to_string(res.status);
      send_error(res, res.status, tsrt_serve::excerpt_text(req.method, 16) + " " + tsrt_serve::excerpt_text(req.path) + ": " + what);
    } catch (...) {
      res.set_content("{\"error\": \"could not describe the error\"}", "application/json");
    }
    return httplib::Server::HandlerResponse::Handled;
  }));
  // A handler's exception that got past guarded(): httplib's default answer is a 500 with the
  // exception's text in an EXCEPTION_WHAT header, client bytes and all. A fixed JSON body instead.
  server.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr) {
    res.status = 500;
    res.set_content("{\"error\": \"internal error\"}", "application/json");
  });

  const int port = options.port == 0 ? server.bind_to_any_port(options.host)
                                     : (server.bind_to_port(options.host, options.port) ? options.port : -1);
  if (port < 0) {
    std::cerr << "tsrt_serve: can't listen on " << options.host << ":" << options.port << " (in use, or not an address here)\n";
    return 1;
  }
  if (listen_socket >= 0) ::listen(listen_socket, SOMAXCONN);  // a second listen() only changes the backlog
  std::thread stopper([&server, &draining, &metrics, stop_signals] {
    int signal_number = 0;
    sigwait(&stop_signals, &signal_number);
    draining = true;  // readiness says 503 from now on: a load balancer stops sending
    // httplib's stop() closes connections whose request it has accepted but not begun to
    // read, so first let the requests in flight finish (and those just sent begin):
    // at least 500 ms (a busy machine may take that long to hand a connection to a
    // worker), until none is in flight, at most 10 s.
    const auto started = std::chrono::steady_clock::now();
    for (auto waited = std::chrono::milliseconds(0); waited < std::chrono::seconds(10);
         waited = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started)) {
      if (waited >= std::chrono::milliseconds(500) && metrics.in_flight() == 0) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    // Closes the listening socket; listen_after_bind() returns once the worker threads
    // have answered the requests they hold.
    server.stop();
  });
  stopper.detach();
  std::cout << "tsrt_serve: listening on http://" << options.host << ":" << port << " (models: " << service.names() << ")"
            << std::endl;
  const bool clean = server.listen_after_bind();
  std::cout << "tsrt_serve: stopped" << std::endl;
  return clean ? 0 : 1;
}
