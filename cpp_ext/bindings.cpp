// The one binding file: converts numpy arrays to raw pointers, releases the GIL, calls the pure C++ headers.
// Argument checking that needs Python context (names, dtypes) happens in the Python wrappers in sdk/; here we only
// assert the contract those wrappers guarantee (C-contiguous uint8 masks, matching lengths).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <stdexcept>
#include <vector>

#include "edt.hpp"
#include "chamfer.hpp"  // distance transforms section
#include "overlap.hpp"  // metrics section
#include "surface.hpp"  // metrics section
#include "components.hpp"  // morphology section
#include "fill.hpp"        // morphology section
#include "hull.hpp"        // morphology section
#include "morphology.hpp"  // morphology section

namespace py = pybind11;
using u8_array = py::array_t<uint8_t, py::array::c_style | py::array::forcecast>;
using f32_array = py::array_t<float, py::array::c_style>;

namespace {

std::vector<int64_t> shape_of(const py::array& a) {
    std::vector<int64_t> s(a.ndim());
    for (py::ssize_t i = 0; i < a.ndim(); ++i) s[i] = a.shape(i);
    return s;
}

void check_spacing(const std::vector<double>& spacing, py::ssize_t ndim) {
    if (static_cast<py::ssize_t>(spacing.size()) != ndim)
        throw std::invalid_argument("spacing must have one entry per array axis");
}

// ---- distance transforms ------------------------------------------------------------------------------------
f32_array squared_edt(u8_array mask, std::vector<double> spacing) {
    check_spacing(spacing, mask.ndim());
    auto shape = shape_of(mask);
    f32_array out(std::vector<py::ssize_t>(shape.begin(), shape.end()));
    const uint8_t* in = mask.data();
    float* o = out.mutable_data();
    {
        py::gil_scoped_release release;
        radseg::squared_edt(in, shape, spacing, o);
    }
    return out;
}

f32_array edt(u8_array mask, std::vector<double> spacing, bool squared) {
    check_spacing(spacing, mask.ndim());
    auto shape = shape_of(mask);
    f32_array out(std::vector<py::ssize_t>(shape.begin(), shape.end()));
    const uint8_t* in = mask.data();
    float* o = out.mutable_data();
    {
        py::gil_scoped_release release;
        radseg::squared_edt(in, shape, spacing, o, !squared);
    }
    return out;
}

f32_array chamfer(u8_array mask, std::vector<double> spacing, int kind) {
    check_spacing(spacing, mask.ndim());
    if (mask.ndim() != 2 && mask.ndim() != 3) throw std::invalid_argument("mask must be 2D or 3D");
    if (kind < 0 || kind > 2) throw std::invalid_argument("kind must be 0 (3-4), 1 (5-7-11) or 2 (quasi)");
    auto shape = shape_of(mask);
    f32_array out(std::vector<py::ssize_t>(shape.begin(), shape.end()));
    const uint8_t* in = mask.data();
    float* o = out.mutable_data();
    {
        py::gil_scoped_release release;
        radseg::chamfer_distance(in, shape, spacing, static_cast<radseg::ChamferKind>(kind), o);
    }
    return out;
}

// ---- morphology ---------------------------------------------------------------------------------------------
// Morphology, hole filling, flood fill, components, contours and hulls (morphology/fill/components/hull.hpp).
// 2D arrays are passed to the kernels as one slice [1, H, W].
void zyx_of(const py::array& a, int64_t zyx[3]) {
    if (a.ndim() != 2 && a.ndim() != 3) throw std::invalid_argument("mask must be 2D or 3D");
    zyx[0] = a.ndim() == 3 ? a.shape(0) : 1;
    zyx[1] = a.shape(a.ndim() - 2);
    zyx[2] = a.shape(a.ndim() - 1);
}

u8_array empty_like_mask(const u8_array& mask) {
    auto shape = shape_of(mask);
    return u8_array(std::vector<py::ssize_t>(shape.begin(), shape.end()));
}

u8_array morph_binary(u8_array mask, std::vector<double> spacing, double radius, int op, int engine) {
    check_spacing(spacing, mask.ndim());
    int64_t zyx[3];
    zyx_of(mask, zyx);
    const double sp[3] = {mask.ndim() == 3 ? spacing[0] : 1.0, spacing[spacing.size() - 2], spacing.back()};
    u8_array out = empty_like_mask(mask);
    const uint8_t* in = mask.data();
    uint8_t* o = out.mutable_data();
    const bool is_2d = mask.ndim() == 2;
    {
        py::gil_scoped_release release;
        radseg::morph::binary_morphology(in, zyx, sp, radius, is_2d, op, o, engine);
    }
    return out;
}

u8_array morph_fill_holes(u8_array mask, int connectivity) {
    int64_t zyx[3];
    zyx_of(mask, zyx);
    u8_array out = empty_like_mask(mask);
    const uint8_t* in = mask.data();
    uint8_t* o = out.mutable_data();
    const bool is_3d = mask.ndim() == 3;
    {
        py::gil_scoped_release release;
        radseg::fill::fill_holes(in, zyx[0], zyx[1], zyx[2], is_3d, connectivity, o);
    }
    return out;
}

u8_array morph_flood_fill(u8_array mask, std::vector<int64_t> seed, int connectivity) {
    int64_t zyx[3];
    zyx_of(mask, zyx);
    if (static_cast<py::ssize_t>(seed.size()) != mask.ndim())
        throw std::invalid_argument("seed must have one index per array axis");
    const int64_t s[3] = {mask.ndim() == 3 ? seed[0] : 0, seed[seed.size() - 2], seed.back()};
    u8_array out = empty_like_mask(mask);
    const uint8_t* in = mask.data();
    uint8_t* o = out.mutable_data();
    const bool is_3d = mask.ndim() == 3;
    {
        py::gil_scoped_release release;
        radseg::fill::flood_fill(in, zyx[0], zyx[1], zyx[2], is_3d, connectivity, s[0], s[1], s[2], o);
    }
    return out;
}

py::tuple morph_label(u8_array mask, int connectivity) {
    int64_t zyx[3];
    zyx_of(mask, zyx);
    auto shape = shape_of(mask);
    py::array_t<int32_t> labels(std::vector<py::ssize_t>(shape.begin(), shape.end()));
    const uint8_t* in = mask.data();
    int32_t* l = labels.mutable_data();
    std::vector<int64_t> sizes;
    const bool is_3d = mask.ndim() == 3;
    {
        py::gil_scoped_release release;
        radseg::cc::label(in, zyx[0], zyx[1], zyx[2], is_3d, connectivity, l, sizes);
    }
    return py::make_tuple(labels, py::array_t<int64_t>(static_cast<py::ssize_t>(sizes.size()), sizes.data()));
}

u8_array morph_filter_components(u8_array mask, int connectivity, int64_t largest, int64_t min_size) {
    int64_t zyx[3];
    zyx_of(mask, zyx);
    u8_array out = empty_like_mask(mask);
    const uint8_t* in = mask.data();
    uint8_t* o = out.mutable_data();
    const bool is_3d = mask.ndim() == 3;
    {
        py::gil_scoped_release release;
        radseg::cc::filter_components(in, zyx[0], zyx[1], zyx[2], is_3d, connectivity, largest, min_size, o);
    }
    return out;
}

py::tuple morph_outer_contours(u8_array mask) {
    if (mask.ndim() != 2) throw std::invalid_argument("mask must be 2D");
    py::array_t<int32_t> labels({mask.shape(0), mask.shape(1)});
    const uint8_t* in = mask.data();
    int32_t* l = labels.mutable_data();
    const int64_t H = mask.shape(0), W = mask.shape(1);
    std::vector<int64_t> areas, lengths;
    std::vector<double> arcs;
    {
        py::gil_scoped_release release;
        radseg::cc::outer_contours(in, H, W, l, areas, lengths, arcs);
    }
    const auto n = static_cast<py::ssize_t>(areas.size());
    return py::make_tuple(labels, py::array_t<int64_t>(n, areas.data()), py::array_t<int64_t>(n, lengths.data()),
                          py::array_t<double>(n, arcs.data()));
}

u8_array morph_convex_hull(u8_array mask) {
    if (mask.ndim() != 2) throw std::invalid_argument("mask must be 2D");
    u8_array out = empty_like_mask(mask);
    const uint8_t* in = mask.data();
    uint8_t* o = out.mutable_data();
    const int64_t H = mask.shape(0), W = mask.shape(1);
    {
        py::gil_scoped_release release;
        radseg::hull::convex_hull_fill(in, H, W, o);
    }
    return out;
}

// ---- metrics ------------------------------------------------------------------------------------------------
void check_pair(const u8_array& a, const u8_array& b) {
    if (a.ndim() != b.ndim()) throw std::invalid_argument("pred and ref must have the same shape");
    for (py::ssize_t i = 0; i < a.ndim(); ++i)
        if (a.shape(i) != b.shape(i)) throw std::invalid_argument("pred and ref must have the same shape");
}

py::tuple overlap_counts(u8_array pred, u8_array ref) {
    check_pair(pred, ref);
    const uint8_t* p = pred.data();
    const uint8_t* r = ref.data();
    const int64_t n = pred.size();
    radseg::OverlapCounts c;
    {
        py::gil_scoped_release release;
        c = radseg::overlap_counts(p, r, n);
    }
    return py::make_tuple(c.tp, c.fp, c.fn, c.tn);
}

py::dict surface_distances(u8_array pred, u8_array ref, std::vector<double> spacing, double percentile) {
    check_pair(pred, ref);
    check_spacing(spacing, pred.ndim());
    if (pred.ndim() != 2 && pred.ndim() != 3) throw std::invalid_argument("pred and ref must be 2D or 3D");
    if (!(percentile >= 0.0 && percentile <= 100.0)) throw std::invalid_argument("percentile must be in [0, 100]");
    auto shape = shape_of(pred);
    const uint8_t* p = pred.data();
    const uint8_t* r = ref.data();
    radseg::SurfaceDistances s;
    {
        py::gil_scoped_release release;
        s = radseg::surface_distances(p, r, shape, spacing, percentile);
    }
    py::dict d;
    d["pred_to_ref_max"] = s.pred_to_ref.max;
    d["pred_to_ref_percentile"] = s.pred_to_ref.percentile;
    d["pred_to_ref_mean"] = s.pred_to_ref.mean;
    d["ref_to_pred_max"] = s.ref_to_pred.max;
    d["ref_to_pred_percentile"] = s.ref_to_pred.percentile;
    d["ref_to_pred_mean"] = s.ref_to_pred.mean;
    d["pooled_percentile"] = s.pooled_percentile;
    d["pooled_mean"] = s.pooled_mean;
    d["n_pred_surface"] = s.pred_to_ref.count;
    d["n_ref_surface"] = s.ref_to_pred.count;
    return d;
}

}  // namespace

PYBIND11_MODULE(_native, m) {
    m.doc() = "radseg native geometry core (distance transforms, morphology, surface metrics).";
    // ---- distance transforms ----
    m.def("squared_edt", &squared_edt, py::arg("mask"), py::arg("spacing"),
          "Squared exact EDT of a C-contiguous uint8 mask (nonzero = foreground); float32, inf if no zero exists.");
    m.def("edt", &edt, py::arg("mask"), py::arg("spacing"), py::arg("squared"),
          "Exact EDT (squared or not) of a C-contiguous uint8 mask; float32, inf if no zero exists.");
    m.def("chamfer", &chamfer, py::arg("mask"), py::arg("spacing"), py::arg("kind"),
          "Chamfer distance (kind 0: 3-4 / 3-4-5, 1: 5-7-11, 2: quasi-Euclidean) of a 2D/3D uint8 mask; float32.");
    // ---- metrics ----
    m.def("overlap_counts", &overlap_counts, py::arg("pred"), py::arg("ref"),
          "(tp, fp, fn, tn) of two same-shape uint8 masks, one pass.");
    m.def("surface_distances", &surface_distances, py::arg("pred"), py::arg("ref"), py::arg("spacing"),
          py::arg("percentile"),
          "Directed and pooled surface distance statistics (dict) of two same-shape 2D/3D 0/1 uint8 masks.");
    // ---- morphology ----
    m.def("binary_morphology", &morph_binary, py::arg("mask"), py::arg("spacing"), py::arg("radius"), py::arg("op"),
          py::arg("engine") = 0,
          "Disk/ball morphology of a 2D/3D uint8 mask; op 0 dilate, 1 erode, 2 open, 3 close; engine 0 auto, 1 runs, "
          "2 EDT (both exact). uint8 0/1 out.");
    m.def("fill_holes", &morph_fill_holes, py::arg("mask"), py::arg("connectivity"),
          "Background not connected to the border (with `connectivity` hops) becomes foreground. uint8 0/1 out.");
    m.def("flood_fill", &morph_flood_fill, py::arg("mask"), py::arg("seed"), py::arg("connectivity"),
          "Region of elements equal to mask[seed] connected to seed. uint8 0/1 out.");
    m.def("label_components", &morph_label, py::arg("mask"), py::arg("connectivity"),
          "(labels int32, sizes int64 with sizes[0] = background) of the nonzero elements; raster-order labels.");
    m.def("filter_components", &morph_filter_components, py::arg("mask"), py::arg("connectivity"),
          py::arg("largest"), py::arg("min_size"),
          "Mask of the components with >= min_size elements, of those the `largest` biggest (< 0: all). uint8 0/1.");
    m.def("outer_contours", &morph_outer_contours, py::arg("mask"),
          "(labels int32, areas, contour point counts, arc lengths) of the external contours of a 2D mask.");
    m.def("convex_hull", &morph_convex_hull, py::arg("mask"),
          "Filled convex hull (through pixel centres) of a 2D uint8 mask. uint8 0/1 out.");
}
