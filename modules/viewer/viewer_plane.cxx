/*
 * viewer_plane.cxx - the image planes drawn cheaply, with identical pixels.
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
 * And the grey image is handed to VTK as RGBA (g, g, g, 255) that VTK is told is
 * opaque, so VTK 9.1 uploads it as it is instead of converting every new grey
 * image to RGBA with its general colour mapper (~3.4 M instructions per frame);
 * without the "opaque" override an RGBA image measured dearer than a grey one
 * (VTK checks every new image's alpha to decide whether the planes are
 * translucent).
 * Callgrind, cn_viewer_show on screen at 1280x800: 61.7 -> 55.4 M (blending,
 * depth test) -> 52.5 M (RGBA); snapshots byte-identical before and after
 * (docs/benchmarks.md, viewer).
 */
#include "viewer_vtk.h"

#include <vtkObjectFactory.h>
#include <vtkOpenGLPolyDataMapper.h>
#include <vtkOpenGLRenderer.h>
#include <vtkOpenGLState.h>
#include <vtkOpenGLTexture.h>
#include <vtk_glew.h> /* GL_BLEND, GL_DEPTH_TEST */

#include <cstddef>
#include <cstdint>

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

/* A texture whose image is RGBA with alpha 255 throughout, by construction. */
class cn_opaque_texture : public vtkOpenGLTexture {
public:
    static cn_opaque_texture *New();
    vtkTypeMacro(cn_opaque_texture, vtkOpenGLTexture);
    int IsTranslucent() override { return 0; }

protected:
    cn_opaque_texture() = default;
    ~cn_opaque_texture() override = default;

private:
    cn_opaque_texture(const cn_opaque_texture &) = delete;
    void operator=(const cn_opaque_texture &) = delete;
};
vtkStandardNewMacro(cn_opaque_texture);

vsp<vtkPolyDataMapper> cn_viewer_plane_mapper_new(bool depth_test)
{
    vsp<cn_plane_mapper> m = vsp<cn_plane_mapper>::New();
    m->depth_test = depth_test;
    return m;
}

vsp<vtkTexture> cn_viewer_image_texture_new()
{
    return vsp<cn_opaque_texture>::New();
}

void cn_viewer_scene_load_image(cn_viewer *v, const uint8_t *grey)
{
    /* grey g -> bytes g, g, g, 255: what VTK's own conversion made of a grey
     * texture (the plane shader reads red only). One word per pixel: the loop
     * vectorises. */
    uint32_t *d = static_cast<uint32_t *>(v->img->GetScalarPointer());
    size_t n = static_cast<size_t>(v->img_w) * static_cast<size_t>(v->img_h);
    for (size_t i = 0; i < n; i++)
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
        d[i] = grey[i] * 0x01010100u | 0xffu;
#else
        d[i] = grey[i] * 0x010101u | 0xff000000u;
#endif
    v->img->Modified();
}
