/*
 * viewer_needle.cxx - the cryoprobe model of the 3-D view, and how a pose moves it.
 *
 * The idea: the model is two closed solids (the grey shaft; the freezing segment
 * ending in a short trocar point), built once in the Cryoprobe frame (tip at the
 * origin, shaft along -z); a frame only sets their matrix from the tracked pose.
 * Their back faces are culled: for a closed solid that changes no pixel and it
 * halves what the model costs llvmpipe (issue 16).
 *
 * A pose whose rotation part is a reflection (determinant < 0, which some
 * calibrations produce) reverses the on-screen winding of every triangle. VTK 9.1
 * does not compensate for a prop matrix with a negative determinant: the culling
 * then removes the model's outside and draws the inside of its far half, unlit
 * (its normals, mirrored correctly by the normal matrix, point away from the eye),
 * and where the probe lies in the image plane that far half is behind the opaque
 * plane, so the probe vanishes (test_viewer_render, test_mirrored_probe_pose_
 * draws_the_outside, measured it so before this file did anything about it). So
 * each solid is kept in both windings (vtkReverseSense: cells reversed, normals
 * kept, since the normal matrix already mirrors them) and its mapper is given the
 * one that faces outwards under the sign of the current pose's determinant. The
 * input changes only when the sign does (one upload of a few hundred triangles).
 */
#include "viewer_vtk.h"

#include "palette/palette.h"

#include <vtkAppendPolyData.h>
#include <vtkConeSource.h>
#include <vtkCylinderSource.h>
#include <vtkMatrix4x4.h>
#include <vtkPolyDataMapper.h>
#include <vtkProperty.h>
#include <vtkReverseSense.h>
#include <vtkTransform.h>
#include <vtkTransformPolyDataFilter.h>

#include <algorithm>

namespace {

const double kNeedleLengthMm = 90.0; // drawn shaft length above the active segment

/* A cylinder along the Cryoprobe's z axis from z0 down to z1 (z1 < z0). */
vsp<vtkPolyData> cylinder_z(double z0, double z1, double radius)
{
    vsp<vtkCylinderSource> c = vsp<vtkCylinderSource>::New();
    c->SetRadius(radius);
    c->SetHeight(z0 - z1);
    c->SetResolution(24);
    vsp<vtkTransform> t = vsp<vtkTransform>::New();
    t->Translate(0.0, 0.0, 0.5 * (z0 + z1));
    t->RotateX(90.0); // the source's axis is y; turn it to z
    vsp<vtkTransformPolyDataFilter> f = vsp<vtkTransformPolyDataFilter>::New();
    f->SetInputConnection(c->GetOutputPort());
    f->SetTransform(t);
    f->Update();
    return f->GetOutput();
}

/* The same solid with every cell's winding reversed, normals unchanged. */
vsp<vtkPolyData> reversed(vtkPolyData *pd)
{
    vsp<vtkReverseSense> r = vsp<vtkReverseSense>::New();
    r->SetInputData(pd);
    r->ReverseCellsOn();
    r->ReverseNormalsOff();
    r->Update();
    vsp<vtkPolyData> out = vsp<vtkPolyData>::New();
    out->DeepCopy(r->GetOutput());
    return out;
}

vsp<vtkActor> solid_actor(vtkPolyData *pd, double r, double g, double b)
{
    vsp<vtkPolyDataMapper> m = vsp<vtkPolyDataMapper>::New();
    m->SetInputData(pd);
    vsp<vtkActor> a = vsp<vtkActor>::New();
    a->SetMapper(m);
    a->GetProperty()->SetColor(r, g, b);
    /* A closed solid: its back faces lie behind its front faces, so culling
     * them changes no pixel, and they were half of what the probe model cost
     * llvmpipe (the long, thin side triangles of the shaft: callgrind 5.8 M of
     * a 51.8 M bench frame for the model, 2.2 M less culled; issue 16). A
     * mirrored pose is handled by the winding, below. */
    a->GetProperty()->BackfaceCullingOn();
    a->VisibilityOff();
    return a;
}

/* Determinant of the rotation/scale part of a row-major 4x4. */
double det3(const cn_mat4 &m)
{
    const double *a = m.m;
    return a[0] * (a[5] * a[10] - a[6] * a[9]) - a[1] * (a[4] * a[10] - a[6] * a[8]) +
           a[2] * (a[4] * a[9] - a[5] * a[8]);
}

} // namespace

void cn_viewer_scene_build_needle(cn_viewer *v)
{
    double active = v->opts.needle_active_mm, radius = 0.5 * v->opts.needle_diameter_mm;
    double cone_h = std::min(2.5, 0.3 * active);
    vsp<vtkPolyData> shaft = cylinder_z(-active, -(active + kNeedleLengthMm), radius);
    vsp<vtkConeSource> cone = vsp<vtkConeSource>::New();
    cone->SetResolution(24);
    cone->SetRadius(radius);
    cone->SetHeight(cone_h);
    cone->SetDirection(0.0, 0.0, 1.0); // apex towards +z, i.e. at the tip
    cone->SetCenter(0.0, 0.0, -0.5 * cone_h);
    cone->Update();
    vsp<vtkAppendPolyData> act = vsp<vtkAppendPolyData>::New();
    act->AddInputData(cylinder_z(-cone_h, -active, radius));
    act->AddInputData(cone->GetOutput());
    act->Update();
    v->needle_pd[0][0] = shaft;
    v->needle_pd[1][0] = act->GetOutput();
    for (auto &pd : v->needle_pd)
        pd[1] = reversed(pd[0]);
    v->needle_mirrored = false;
    v->needle_shaft = solid_actor(v->needle_pd[0][0], 0.80, 0.82, 0.86);
    v->needle_shaft->GetProperty()->SetSpecular(0.6);
    v->needle_shaft->GetProperty()->SetSpecularPower(30.0);
    double active_rgb[3];
    cn_palette_f(CN_PAL_NEEDLE_ACTIVE, active_rgb);
    v->needle_active = solid_actor(v->needle_pd[1][0], active_rgb[0], active_rgb[1], active_rgb[2]);
    v->needle_active->GetProperty()->SetSpecular(0.4);
    v->ren3d->AddActor(v->needle_shaft);
    v->ren3d->AddActor(v->needle_active);
}

void cn_viewer_scene_place_needle(cn_viewer *v, const cn_mat4 &needle_to_ref, bool visible)
{
    vtkActor *actors[2] = {v->needle_shaft.Get(), v->needle_active.Get()};
    bool mirrored = det3(needle_to_ref) < 0.0;
    for (int k = 0; k < 2; k++) {
        vsp<vtkMatrix4x4> vm = vsp<vtkMatrix4x4>::New();
        vm->DeepCopy(needle_to_ref.m); // both row-major
        actors[k]->SetUserMatrix(vm);
        actors[k]->SetVisibility(visible);
        if (mirrored != v->needle_mirrored)
            vtkPolyDataMapper::SafeDownCast(actors[k]->GetMapper())
                ->SetInputData(v->needle_pd[k][mirrored ? 1 : 0]);
    }
    v->needle_mirrored = mirrored;
}
