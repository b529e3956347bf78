// ng_roles.cpp - a Slicer-like COMMAND client on openigtlink-ng (an independent,
// strict OpenIGTLink v2/v3 implementation), to check from outside our code that
// roles hold for the COMMAND message: StartRecording is refused to a viewer,
// Login with the token grants proctor rights, then StartRecording / StopRecording
// succeed; every RTS_COMMAND must carry the request's command id and a Status.
// Built by tests/interop/ng_build.sh against the ng libraries (never copied into
// the repository). Usage: ng_roles PORT TOKEN [--version 1|2]
// Prints one line per command and "NG-ROLES PASS|FAIL"; exit 0 on pass.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include "oigtl/client.hpp"
#include "oigtl/envelope.hpp"
#include "oigtl/messages/command.hpp"
#include "oigtl/messages/rts_command.hpp"
#include "oigtl/messages/status.hpp"
#include "oigtl/pack.hpp"
#include "oigtl/transport/errors.hpp"

namespace om = oigtl::messages;
using Clock = std::chrono::steady_clock;

struct Reply {
    bool got = false;
    std::uint32_t id = 0;
    std::string name, text, status;
};

static Reply send_command(oigtl::Client& c, int version, std::uint32_t id, const std::string& name,
                          const std::string& xml)
{
    oigtl::Envelope<om::Command> env;
    env.version = static_cast<std::uint16_t>(version);
    env.device_name = "command";   // what igtlio sends
    env.message_id = id;
    env.body.command_id = id;
    env.body.command_name = name;
    env.body.encoding = 3;
    env.body.command.assign(xml.begin(), xml.end());
    env.body.length = static_cast<std::uint32_t>(xml.size());
    c.connection().send_sync(oigtl::pack_envelope(env));
    Reply r;
    auto deadline = Clock::now() + std::chrono::seconds(10);
    while (Clock::now() < deadline) {
        oigtl::transport::Incoming inc;
        try {
            inc = c.receive_any();
        } catch (const oigtl::transport::TimeoutError&) {
            continue;
        }
        if (inc.header.type_id != "RTS_COMMAND")
            continue;
        auto e = oigtl::unpack_envelope<om::RtsCommand>(inc);   // strict: throws if malformed
        if (e.body.command_id != id)
            continue;
        r.got = true;
        r.id = e.body.command_id;
        r.name = e.body.command_name;
        r.text.assign(e.body.command.begin(), e.body.command.end());
        for (auto& m : e.metadata)
            if (m.key == "Status")
                r.status.assign(m.value.begin(), m.value.end());
        break;
    }
    std::printf("COMMAND id=%u %s -> %s id=%u status=%s %s\n", id, name.c_str(),
                r.got ? "RTS_COMMAND" : "(no reply)", r.id, r.status.empty() ? "-" : r.status.c_str(),
                r.text.c_str());
    return r;
}

static bool ok(const Reply& r, int version, bool want_success)
{
    if (!r.got)
        return false;
    bool success = r.text.find("Status=\"SUCCESS\"") != std::string::npos;
    if (version >= 2 && r.status != (want_success ? "SUCCESS" : "FAIL"))
        return false;   // v2: the status is in the metadata too
    return success == want_success;
}

int main(int argc, char** argv)
{
    if (argc < 3) {
        std::fprintf(stderr, "usage: ng_roles PORT TOKEN [--version 1|2]\n");
        return 2;
    }
    int version = 2;
    if (argc >= 5 && std::string(argv[3]) == "--version")
        version = std::atoi(argv[4]);
    std::string token = argv[2];
    try {
        oigtl::ClientOptions o;
        o.connect_retries = 20;
        o.default_version = static_cast<std::uint16_t>(version);
        o.receive_timeout = std::chrono::milliseconds(200);
        auto c = oigtl::Client::connect("127.0.0.1", static_cast<std::uint16_t>(std::atoi(argv[1])), o);
        if (version >= 2) {   // Slicer's greeting: a v2 STATUS with metadata
            oigtl::Envelope<om::Status> hello;
            hello.version = 2;
            hello.body.code = 1;
            hello.metadata.push_back(oigtl::make_text_metadata("dummy", "dummy"));
            c.connection().send_sync(oigtl::pack_envelope(hello));
        }
        bool pass = true;
        pass &= ok(send_command(c, version, 101, "StartRecording",
                                "<Command Name=\"StartRecording\" OutputFilename=\"ng-viewer-v" + std::to_string(version) +
                                    ".igs.mha\"/>"),
                   version, false);
        pass &= ok(send_command(c, version, 102, "Login",
                                "<Command Name=\"Login\" Token=\"wrong-token-wrong-token\"/>"),
                   version, false);
        pass &= ok(send_command(c, version, 103, "Login",
                                "<Command Name=\"Login\" Token=\"" + token + "\" DisplayName=\"ng proctor\"/>"),
                   version, true);
        pass &= ok(send_command(c, version, 104, "StartRecording",
                                "<Command Name=\"StartRecording\" OutputFilename=\"ng-proctor-v" + std::to_string(version) +
                                    ".igs.mha\"/>"),
                   version, true);
        pass &= ok(send_command(c, version, 105, "StopRecording", "<Command Name=\"StopRecording\"/>"),
                   version, true);
        pass &= ok(send_command(c, version, 106, "NoSuchCommand", "<Command Name=\"NoSuchCommand\"/>"),
                   version, false);
        std::printf("NG-ROLES %s (header v%d)\n", pass ? "PASS" : "FAIL", version);
        return pass ? 0 : 1;
    } catch (const std::exception& e) {
        std::printf("NG-ROLES FAIL: %s\n", e.what());
        return 1;
    }
}
