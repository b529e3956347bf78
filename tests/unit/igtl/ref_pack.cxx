// ref_pack.cxx - thin C++ wrapper over the upstream OpenIGTLink library: packs
// reference messages for the byte-for-byte tests of our C packers. Test-only.
#include "ref_pack.h"

#include <igtlImageMessage.h>
#include <igtlPointMessage.h>
#include <igtlPolyDataMessage.h>
#include <igtlQuaternionTrackingDataMessage.h>
#include <igtlTrackingDataMessage.h>
#include <igtlStatusMessage.h>
#include <igtlStringMessage.h>
#include <igtlTransformMessage.h>

#include <cstdlib>
#include <cstring>

static uint8_t *copy_out(igtl::MessageBase *m, size_t *len)
{
    m->Pack();
    *len = (size_t)m->GetPackSize();
    uint8_t *out = (uint8_t *)malloc(*len);
    memcpy(out, m->GetPackPointer(), *len);
    return out;
}

uint8_t *ref_pack_transform(const char *name, uint32_t sec, uint32_t frac, const float m[12],
                            size_t *len)
{
    igtl::TransformMessage::Pointer msg = igtl::TransformMessage::New();
    msg->SetDeviceName(name);
    msg->SetTimeStamp(sec, frac);
    igtl::Matrix4x4 mat;
    igtl::IdentityMatrix(mat);
    for (int r = 0; r < 3; r++)
        for (int c = 0; c < 4; c++)
            mat[r][c] = m[r * 4 + c];
    msg->SetMatrix(mat);
    return copy_out(msg, len);
}

uint8_t *ref_pack_image_u8(const char *name, uint32_t sec, uint32_t frac, int w, int h,
                           const float spacing[3], const float dir[9], const float origin[3],
                           const uint8_t *pixels, size_t *len)
{
    igtl::ImageMessage::Pointer msg = igtl::ImageMessage::New();
    msg->SetDeviceName(name);
    msg->SetTimeStamp(sec, frac);
    int size[3] = {w, h, 1};
    msg->SetDimensions(size);
    float sp[3] = {spacing[0], spacing[1], spacing[2]};
    msg->SetSpacing(sp);
    msg->SetScalarTypeToUint8();
    msg->AllocateScalars();
    memcpy(msg->GetScalarPointer(), pixels, (size_t)w * (size_t)h);
    igtl::Matrix4x4 mat;
    igtl::IdentityMatrix(mat);
    for (int r = 0; r < 3; r++)
        for (int c = 0; c < 3; c++)
            mat[r][c] = dir[r * 3 + c];
    for (int r = 0; r < 3; r++)
        mat[r][3] = origin[r];
    msg->SetMatrix(mat);
    return copy_out(msg, len);
}

uint8_t *ref_pack_string(const char *name, uint32_t sec, uint32_t frac, const char *text,
                         size_t *len)
{
    igtl::StringMessage::Pointer msg = igtl::StringMessage::New();
    msg->SetDeviceName(name);
    msg->SetTimeStamp(sec, frac);
    msg->SetString(text);
    return copy_out(msg, len);
}

uint8_t *ref_pack_status(const char *name, uint32_t sec, uint32_t frac, int code,
                         int64_t subcode, const char *error_name, const char *text, size_t *len)
{
    igtl::StatusMessage::Pointer msg = igtl::StatusMessage::New();
    msg->SetDeviceName(name);
    msg->SetTimeStamp(sec, frac);
    msg->SetCode(code);
    msg->SetSubCode(subcode);
    msg->SetErrorName(error_name);
    msg->SetStatusString(text);
    return copy_out(msg, len);
}

uint8_t *ref_pack_polyline(const char *name, uint32_t sec, uint32_t frac, const float *xyz,
                           int n, int closed, size_t *len)
{
    igtl::PolyDataMessage::Pointer msg = igtl::PolyDataMessage::New();
    msg->SetDeviceName(name);
    msg->SetTimeStamp(sec, frac);
    igtl::PolyDataPointArray::Pointer pts = igtl::PolyDataPointArray::New();
    for (int i = 0; i < n; i++)
        pts->AddPoint(xyz[3 * i], xyz[3 * i + 1], xyz[3 * i + 2]);
    igtl::PolyDataCellArray::Pointer lines = igtl::PolyDataCellArray::New();
    std::list<igtlUint32> cell;
    for (int i = 0; i < n; i++)
        cell.push_back((igtlUint32)i);
    if (closed)
        cell.push_back(0);
    lines->AddCell(cell);
    msg->SetPoints(pts);
    msg->SetLines(lines);
    return copy_out(msg, len);
}

uint8_t *ref_pack_triangles(const char *name, uint32_t sec, uint32_t frac, const float *xyz,
                            int n, const int *tri, int n_tri, size_t *len)
{
    igtl::PolyDataMessage::Pointer msg = igtl::PolyDataMessage::New();
    msg->SetDeviceName(name);
    msg->SetTimeStamp(sec, frac);
    igtl::PolyDataPointArray::Pointer pts = igtl::PolyDataPointArray::New();
    for (int i = 0; i < n; i++)
        pts->AddPoint(xyz[3 * i], xyz[3 * i + 1], xyz[3 * i + 2]);
    igtl::PolyDataCellArray::Pointer polys = igtl::PolyDataCellArray::New();
    for (int t = 0; t < n_tri; t++) {
        igtlUint32 cell[3] = {(igtlUint32)tri[3 * t], (igtlUint32)tri[3 * t + 1],
                              (igtlUint32)tri[3 * t + 2]};
        polys->AddCell(3, cell);
    }
    msg->SetPoints(pts);
    msg->SetPolygons(polys);
    return copy_out(msg, len);
}

uint8_t *ref_pack_point(const char *name, uint32_t sec, uint32_t frac, const char *pname,
                        const float pos[3], size_t *len)
{
    igtl::PointMessage::Pointer msg = igtl::PointMessage::New();
    msg->SetDeviceName(name);
    msg->SetTimeStamp(sec, frac);
    igtl::PointElement::Pointer e = igtl::PointElement::New();
    e->SetName(pname);
    e->SetGroupName("Targets");
    e->SetRGBA(255, 0, 0, 255);
    e->SetPosition(pos[0], pos[1], pos[2]);
    e->SetRadius(2.0f);
    e->SetOwner("");
    msg->AddPointElement(e);
    return copy_out(msg, len);
}

uint8_t *ref_pack_points(const char *name, uint32_t sec, uint32_t frac, int n,
                         const char *const *pnames, const char *group, const uint8_t rgba[4],
                         const float (*pos)[3], float radius, const char *owner, size_t *len)
{
    igtl::PointMessage::Pointer msg = igtl::PointMessage::New();
    msg->SetDeviceName(name);
    msg->SetTimeStamp(sec, frac);
    for (int i = 0; i < n; i++) {
        igtl::PointElement::Pointer e = igtl::PointElement::New();
        e->SetName(pnames[i]);
        e->SetGroupName(group);
        e->SetRGBA(rgba[0], rgba[1], rgba[2], rgba[3]);
        e->SetPosition(pos[i][0], pos[i][1], pos[i][2]);
        e->SetRadius(radius);
        e->SetOwner(owner);
        msg->AddPointElement(e);
    }
    return copy_out(msg, len);
}

uint8_t *ref_pack_qtdata(const char *name, uint32_t sec, uint32_t frac, int n,
                         const char *const *names, const float (*pos)[3], const float (*quat)[4],
                         size_t *len)
{
    igtl::QuaternionTrackingDataMessage::Pointer msg = igtl::QuaternionTrackingDataMessage::New();
    msg->SetDeviceName(name);
    msg->SetTimeStamp(sec, frac);
    for (int i = 0; i < n; i++) {
        igtl::QuaternionTrackingDataElement::Pointer e = igtl::QuaternionTrackingDataElement::New();
        e->SetName(names[i]);
        e->SetType(igtl::QuaternionTrackingDataElement::TYPE_6D);
        e->SetPosition(pos[i][0], pos[i][1], pos[i][2]);
        e->SetQuaternion(quat[i][0], quat[i][1], quat[i][2], quat[i][3]);
        msg->AddQuaternionTrackingDataElement(e);
    }
    return copy_out(msg, len);
}

uint8_t *ref_pack_stt(const char *name, uint32_t sec, uint32_t frac, int quaternion,
                      int resolution_ms, size_t *len)
{
    if (quaternion) {
        igtl::StartQuaternionTrackingDataMessage::Pointer msg =
            igtl::StartQuaternionTrackingDataMessage::New();
        msg->SetDeviceName(name);
        msg->SetTimeStamp(sec, frac);
        msg->SetResolution(resolution_ms);
        return copy_out(msg, len);
    }
    igtl::StartTrackingDataMessage::Pointer msg = igtl::StartTrackingDataMessage::New();
    msg->SetDeviceName(name);
    msg->SetTimeStamp(sec, frac);
    msg->SetResolution(resolution_ms);
    return copy_out(msg, len);
}
