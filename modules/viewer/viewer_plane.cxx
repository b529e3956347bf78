/*
 * viewer_plane.cxx - the image planes drawn with less work, identical pixels.
 *
 * The idea: the two textured image planes are most of what llvmpipe rasterises
 * per frame (the 2-D plane alone was ~21 M of 62 M instructions of an on-screen
 * 1280x800 frame, callgrind), and both are opaque. So they skip per-pixel work
 * that cannot change their pixels:
 * - blending: VTK leaves it on for every actor; an opaque fragment blended over
 *   anything is the fragment itself;
 * - the depth test in the 2-D view: nothing there is behind the image (its
 *   overlays sit in front of it, its text is 2-D). The 3-D plane keeps it: the
 *   probe model may pass behind the image.
 * Callgrind, cn_viewer_show on screen at 1280x800: 61.7 -> 55.4 M instructions
 * per frame; snapshots byte-identical before and after (docs/benchmarks.md,
 * viewer).
 *
 * The texture both planes sample is ours too (issue 16): VTK 9.1 turns a
 * one-channel image into RGBA on every upload through its generic colour
 * mapping (vtkScalarsToColors, 3.2 M instructions per 640x480 frame), and hands
 * GL a new texture image each time. Here the grey -> RGBA words are one tight
 * loop (0.8 M) and the pixels go into the same texture storage with
 * glTexSubImage2D; VTK draws from it as an external texture object (one upload
 * serves both planes, as before). RGBA stays the format: a one-channel (R8)
 * texture measured dearer, llvmpipe samples RGBA8 on its fast path (54.8 M ->
 * 57.5 M per frame with R8, 51.8 M with RGBA from here). Pixels byte-identical.
 */
#include "viewer_vtk.h"

#include <vtkObjectFactory.h>
#include <vtkOpenGLPolyDataMapper.h>
#include <vtkOpenGLRenderWindow.h>
#include <vtkOpenGLRenderer.h>
#include <vtkOpenGLState.h>
#include <vtkOpenGLTexture.h>
#include <vtk_glew.h> /* GL_BLEND, GL_DEPTH_TEST, glTexSubImage2D */

/* Draws without blending and, unless depth_test, without the depth test; VTK's
 * state is restored afterwards for the actors that follow (text needs blending). */
class cn_plane_mapper : public vtkOpenGLPolyDataMapper {
public:
    static cn_plane_mapper *New();
    vtkTypeMacro(cn_plane_mapper, vtkOpenGLPolyDataMapper);
    bool depth_test = true;

protected:
    cn_plane_mapper() = default;
    ~cn_plane_mapper() override = default;
    void RenderPiece(vtkRenderer *ren, vtkActor *act) override
    {
        vtkOpenGLState *st = static_cast<vtkOpenGLRenderer *>(ren)->GetState();
        vtkOpenGLState::ScopedglEnableDisable keep_blend(st, GL_BLEND);
        vtkOpenGLState::ScopedglEnableDisable keep_depth(st, GL_DEPTH_TEST);
        st->vtkglDisable(GL_BLEND);
        if (!depth_test)
            st->vtkglDisable(GL_DEPTH_TEST);
        Superclass::RenderPiece(ren, act);
    }

private:
    cn_plane_mapper(const cn_plane_mapper &) = delete;
    void operator=(const cn_plane_mapper &) = delete;
};
vtkStandardNewMacro(cn_plane_mapper);

namespace {

/* v->rgba into v->tex_obj: in place when the size is unchanged (no new storage,
 * no texture parameters to set again), else a new texture image. */
void upload(cn_viewer *v)
{
    vtkTextureObject *to = v->tex_obj;
    if (!to)
        return;
    v->win->MakeCurrent();
    if (v->tex_w == v->img_w && v->tex_h == v->img_h && to->GetHandle()) {
        to->Bind();
        glTexSubImage2D(GL_TEXTURE_2D, 0, 0, 0, v->img_w, v->img_h, GL_RGBA, GL_UNSIGNED_BYTE,
                        v->rgba.data());
        return;
    }
    to->Create2DFromRaw(static_cast<unsigned>(v->img_w), static_cast<unsigned>(v->img_h), 4,
                        VTK_UNSIGNED_CHAR, v->rgba.data());
    to->SetMinificationFilter(vtkTextureObject::Linear);
    to->SetMagnificationFilter(vtkTextureObject::Linear);
    to->SetWrapS(vtkTextureObject::ClampToEdge);
    to->SetWrapT(vtkTextureObject::ClampToEdge);
    v->tex_w = v->img_w;
    v->tex_h = v->img_h;
}

} // namespace

vsp<vtkPolyDataMapper> cn_viewer_plane_mapper_new(bool depth_test)
{
    vsp<cn_plane_mapper> m = vsp<cn_plane_mapper>::New();
    m->depth_test = depth_test;
    return m;
}

bool cn_viewer_plane_texture_init(cn_viewer *v)
{
    vtkOpenGLRenderWindow *glw = vtkOpenGLRenderWindow::SafeDownCast(v->win);
    vtkOpenGLTexture *ot = vtkOpenGLTexture::SafeDownCast(v->tex);
    if (!glw || !ot)
        return false;
    v->tex_obj = vsp<vtkTextureObject>::New();
    v->tex_obj->SetContext(glw);
    ot->SetTextureObject(v->tex_obj);
    upload(v);
    return v->tex_obj->GetHandle() != 0;
}

void cn_viewer_plane_texture_set(cn_viewer *v, const uint8_t *grey)
{
    size_t n = static_cast<size_t>(v->img_w) * static_cast<size_t>(v->img_h);
    uint32_t *dst = v->rgba.data();
    /* grey g -> bytes g, g, g, 255 in memory, whatever the host's byte order */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    for (size_t i = 0; i < n; i++)
        dst[i] = 0x000000ffu | grey[i] * 0x01010100u;
#else
    for (size_t i = 0; i < n; i++)
        dst[i] = 0xff000000u | grey[i] * 0x010101u;
#endif
    upload(v);
}
