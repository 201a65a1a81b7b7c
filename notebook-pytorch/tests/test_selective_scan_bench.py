"""The benchmark times the scan at the shapes MambaVision-T really feeds it."""

from flipkart_torch.bench_scan import observed_stage3_shape, stage3_scan_shape


def test_benchmark_shape_is_what_mambavision_t_scans_at_224() -> None:
    shape = stage3_scan_shape(image_size=224, batch=8)
    assert shape == {"batch": 8, "d": 160, "n": 8, "L": 196}
    observed = observed_stage3_shape(image_size=224)  # batch 1: one 14x14 window per image
    assert observed == {"windows": 1, "L": shape["L"], "d": shape["d"], "n": shape["n"]}
