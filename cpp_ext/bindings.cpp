// The one binding file: converts numpy arrays to raw pointers, releases the GIL, calls the pure C++ headers.
// Argument checking that needs Python context (names, dtypes) happens in the Python wrappers in sdk/; here we only
// assert the contract those wrappers guarantee (C-contiguous uint8 masks, matching lengths).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <stdexcept>
#include <vector>

#include "edt.hpp"

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

}  // namespace

PYBIND11_MODULE(_native, m) {
    m.doc() = "radseg native geometry core (distance transforms, morphology, surface metrics).";
    // ---- distance transforms ----
    m.def("squared_edt", &squared_edt, py::arg("mask"), py::arg("spacing"),
          "Squared exact EDT of a C-contiguous uint8 mask (nonzero = foreground); float32, inf if no zero exists.");
}
