// igtl_upstream_receiver.cxx - a receiving client built on the upstream
// OpenIGTLink C++ library (Debian's libOpenIGTLink), used by the interop test
// as the independent decoder of what our server sends. For each message it
// prints one line with what the upstream classes decoded (after a CRC-checked
// Unpack): pixel hash and matrices for IMAGE, the matrix for TRANSFORM, the
// points for POLYDATA, the elements for POINT, the text for STRING.
// Usage: igtl_upstream_receiver HOST PORT N_MESSAGES
#include <igtlClientSocket.h>
#include <igtlImageMessage.h>
#include <igtlMessageHeader.h>
#include <igtlPointMessage.h>
#include <igtlPolyDataMessage.h>
#include <igtlStringMessage.h>
#include <igtlTransformMessage.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: %s HOST PORT N_MESSAGES\n", argv[0]);
        return 2;
    }
    igtl::ClientSocket::Pointer sock = igtl::ClientSocket::New();
    if (sock->ConnectToServer(argv[1], atoi(argv[2])) != 0) {
        fprintf(stderr, "cannot connect\n");
        return 1;
    }
    int n = atoi(argv[3]);
    igtl::MessageHeader::Pointer hdr = igtl::MessageHeader::New();
    for (int i = 0; i < n; i++) {
        hdr->InitPack();
        int r = sock->Receive(hdr->GetPackPointer(), hdr->GetPackSize());
        if (r != hdr->GetPackSize())
            return 1;
        hdr->Unpack();
        const char *type = hdr->GetDeviceType();
        const char *name = hdr->GetDeviceName();
        igtl::MessageBase::Pointer msg;
        if (strcmp(type, "IMAGE") == 0)
            msg = igtl::ImageMessage::New();
        else if (strcmp(type, "TRANSFORM") == 0)
            msg = igtl::TransformMessage::New();
        else if (strcmp(type, "POLYDATA") == 0)
            msg = igtl::PolyDataMessage::New();
        else if (strcmp(type, "STRING") == 0)
            msg = igtl::StringMessage::New();
        else if (strcmp(type, "POINT") == 0)
            msg = igtl::PointMessage::New();
        if (msg.IsNull()) {
            sock->Skip(hdr->GetBodySizeToRead(), 0);
            printf("%s %s skipped\n", type, name);
            continue;
        }
        msg->SetMessageHeader(hdr);
        msg->AllocatePack();
        sock->Receive(msg->GetPackBodyPointer(), msg->GetPackBodySize());
        int c = msg->Unpack(1);
        bool ok = (c & igtl::MessageHeader::UNPACK_BODY) != 0;
        printf("%s %s crc=%s", type, name, ok ? "ok" : "BAD");
        if (ok && strcmp(type, "IMAGE") == 0) {
            igtl::ImageMessage *im = static_cast<igtl::ImageMessage *>(msg.GetPointer());
            int size[3];
            float sp[3];
            im->GetDimensions(size);
            im->GetSpacing(sp);
            igtl::Matrix4x4 m;
            im->GetMatrix(m);
            const unsigned char *px = (const unsigned char *)im->GetScalarPointer();
            unsigned long long fnv = 1469598103934665603ull;
            for (int k = 0; k < size[0] * size[1] * size[2]; k++)
                fnv = (fnv ^ px[k]) * 1099511628211ull;
            printf(" size=%d,%d,%d type=%d spacing=%.6f,%.6f,%.6f fnv=%llu m=", size[0], size[1],
                   size[2], im->GetScalarType(), sp[0], sp[1], sp[2], fnv);
            for (int rr = 0; rr < 3; rr++)
                for (int cc = 0; cc < 4; cc++)
                    printf("%s%.6f", rr || cc ? "," : "", m[rr][cc]);
        } else if (ok && strcmp(type, "TRANSFORM") == 0) {
            igtl::Matrix4x4 m;
            static_cast<igtl::TransformMessage *>(msg.GetPointer())->GetMatrix(m);
            printf(" m=");
            for (int rr = 0; rr < 3; rr++)
                for (int cc = 0; cc < 4; cc++)
                    printf("%s%.6f", rr || cc ? "," : "", m[rr][cc]);
        } else if (ok && strcmp(type, "POLYDATA") == 0) {
            igtl::PolyDataMessage *pd = static_cast<igtl::PolyDataMessage *>(msg.GetPointer());
            igtl::PolyDataPointArray::Pointer pts = pd->GetPoints();
            int np = pts.IsNotNull() ? pts->GetNumberOfPoints() : 0;
            igtl::PolyDataCellArray::Pointer lines = pd->GetLines();
            printf(" points=%d lines=%d", np, lines.IsNotNull() ? lines->GetNumberOfCells() : 0);
            if (np > 0) {
                igtlFloat32 p[3];
                pts->GetPoint(0, p);
                printf(" p0=%.6f,%.6f,%.6f", p[0], p[1], p[2]);
            }
        } else if (ok && strcmp(type, "POINT") == 0) {
            igtl::PointMessage *pm = static_cast<igtl::PointMessage *>(msg.GetPointer());
            int ne = pm->GetNumberOfPointElement();
            printf(" elements=%d", ne);
            for (int k = 0; k < ne; k++) {
                igtl::PointElement::Pointer e;
                pm->GetPointElement(k, e);
                igtlFloat32 p[3];
                e->GetPosition(p);
                igtlUint8 rgba[4];
                e->GetRGBA(rgba);
                printf(" name=%s group=%s rgba=%d,%d,%d,%d p=%.6f,%.6f,%.6f radius=%.3f", e->GetName(),
                       e->GetGroupName(), rgba[0], rgba[1], rgba[2], rgba[3], p[0], p[1], p[2],
                       e->GetRadius());
            }
        } else if (ok && strcmp(type, "STRING") == 0) {
            igtl::StringMessage *sm = static_cast<igtl::StringMessage *>(msg.GetPointer());
            printf(" enc=%d text=%s", sm->GetEncoding(), sm->GetString());
        }
        printf("\n");
        fflush(stdout);
    }
    return 0;
}
