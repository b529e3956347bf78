// bench_igtl_upstream.cxx - the comparison side of `cryonav bench igtl`: the
// same messages (640x480 IMAGE + 3 TRANSFORMs per frame) packed and sent by
// the upstream OpenIGTLink C++ library (Debian's libOpenIGTLink 1.11) the way
// its examples do it: igtl::ServerSocket, one blocking Send per client in
// turn. Thin on purpose: a C API for bench_igtl.c, nothing else.
#include <igtlImageMessage.h>
#include <igtlServerSocket.h>
#include <igtlTransformMessage.h>

#include <cstring>
#include <vector>

extern "C" {
struct cn_up_sender;
cn_up_sender *cn_up_sender_new(int *port);
int cn_up_sender_accept(cn_up_sender *s, int n, int timeout_ms);
int cn_up_sender_send(cn_up_sender *s, int w, int h, const unsigned char *pixels,
                      const float spacing[3], const float img[12], const char *img_name,
                      const float xf[3][12], const char *const names[3], long long wall_ns);
void cn_up_sender_free(cn_up_sender *s);
}

struct cn_up_sender {
    igtl::ServerSocket::Pointer server;
    std::vector<igtl::ClientSocket::Pointer> clients;
    igtl::ImageMessage::Pointer image;
    igtl::TransformMessage::Pointer xf[3];
    int w = 0, h = 0;
};

cn_up_sender *cn_up_sender_new(int *port)
{
    cn_up_sender *s = new cn_up_sender;
    s->server = igtl::ServerSocket::New();
    if (s->server->CreateServer(0) < 0) {
        delete s;
        return nullptr;
    }
    *port = s->server->GetServerPort();
    s->image = igtl::ImageMessage::New();
    for (int i = 0; i < 3; i++)
        s->xf[i] = igtl::TransformMessage::New();
    return s;
}

int cn_up_sender_accept(cn_up_sender *s, int n, int timeout_ms)
{
    while ((int)s->clients.size() < n) {
        igtl::ClientSocket::Pointer c = s->server->WaitForConnection(timeout_ms);
        if (c.IsNull())
            return -1;
        s->clients.push_back(c);
    }
    return 0;
}

static void to_matrix(const float m[12], igtl::Matrix4x4 &out)
{
    igtl::IdentityMatrix(out);
    for (int r = 0; r < 3; r++)
        for (int c = 0; c < 4; c++)
            out[r][c] = m[r * 4 + c];
}

int cn_up_sender_send(cn_up_sender *s, int w, int h, const unsigned char *pixels,
                      const float spacing[3], const float img[12], const char *img_name,
                      const float xf[3][12], const char *const names[3], long long wall_ns)
{
    igtl::TimeStamp::Pointer ts = igtl::TimeStamp::New();
    ts->SetTime((igtlUint32)(wall_ns / 1000000000LL), (igtlUint32)(wall_ns % 1000000000LL));
    if (w != s->w || h != s->h) {
        int size[3] = {w, h, 1};
        s->image->SetDimensions(size);
        s->image->SetScalarTypeToUint8();
        s->image->AllocateScalars();
        s->w = w;
        s->h = h;
    }
    float sp[3] = {spacing[0], spacing[1], spacing[2]};
    s->image->SetSpacing(sp);
    s->image->SetDeviceName(img_name);
    std::memcpy(s->image->GetScalarPointer(), pixels, (size_t)w * (size_t)h);
    igtl::Matrix4x4 m;
    to_matrix(img, m);
    s->image->SetMatrix(m);
    s->image->SetTimeStamp(ts);
    s->image->Pack();
    for (int i = 0; i < 3; i++) {
        to_matrix(xf[i], m);
        s->xf[i]->SetDeviceName(names[i]);
        s->xf[i]->SetMatrix(m);
        s->xf[i]->SetTimeStamp(ts);
        s->xf[i]->Pack();
    }
    for (auto &c : s->clients) {
        if (c->Send(s->image->GetPackPointer(), s->image->GetPackSize()) == 0)
            return -1;
        for (int i = 0; i < 3; i++)
            if (c->Send(s->xf[i]->GetPackPointer(), s->xf[i]->GetPackSize()) == 0)
                return -1;
    }
    return 0;
}

void cn_up_sender_free(cn_up_sender *s)
{
    if (!s)
        return;
    for (auto &c : s->clients)
        c->CloseSocket();
    s->server->CloseSocket();
    delete s;
}
