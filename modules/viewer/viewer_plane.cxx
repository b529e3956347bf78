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
 */
#include "viewer_vtk.h"

#include <vtkObjectFactory.h>
#include <vtkOpenGLPolyDataMapper.h>
#include <vtkOpenGLRenderer.h>
#include <vtkOpenGLState.h>
#include <vtk_glew.h> /* GL_BLEND, GL_DEPTH_TEST */

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

vsp<vtkPolyDataMapper> cn_viewer_plane_mapper_new(bool depth_test)
{
    vsp<cn_plane_mapper> m = vsp<cn_plane_mapper>::New();
    m->depth_test = depth_test;
    return m;
}
