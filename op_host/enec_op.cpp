// CANN custom-operator registration of the enec kernels (msopgen "framework" project layout:
// this file is op_host/, the kernels are op_kernel/). It yields aclnnEnecCompress,
// aclnnEnecPlaceOutliers and aclnnEnecDecompress after `op_host/build.sh` + installing the .run.
// The torch_npu binding (enec_npu_binding.cpp) does not need it: it launches the same kernels
// directly on the current stream. Both paths fill the tiling with EnecComputeTiling.
// The decompress kernel trusts the blob's outlier index: a caller of aclnnEnecDecompress must
// first validate the blob with EnecParseHeader and EnecCheckOutlierIndex (enec_host.h), as the
// torch_npu binding does; the tiling function here only sees the attributes.
//
// Kernel argument order (inputs, outputs, workspace, tiling) matches these definitions:
//   enec_compress(x, blob, counts, staging, workspace, tiling)
//   enec_place_outliers(staging, counts, blob, workspace, tiling)      blob updated in place
//   enec_decompress(blob, y, workspace, tiling)
#include "register/op_def_registry.h"
#include "tiling/platform/platform_ascendc.h"

#include "enec_host.h"

namespace optiling {

static uint32_t DtypeCode(ge::DataType t)
{
    return t == ge::DT_BF16 ? 0 : t == ge::DT_FLOAT16 ? 1 : t == ge::DT_FLOAT ? 2 : 99;
}

static uint32_t AivCores(gert::TilingContext* context)
{
    auto plat = platform_ascendc::PlatformAscendC(context->GetPlatformInfo());
    const uint32_t n = plat.GetCoreNumAiv();
    return n ? n : 1;
}

// Attributes of all three ops: b, n, m (from the host's parameter search), ndim, numel and the
// blob size (0 when not yet known, i.e. for EnecCompress).
static ge::graphStatus FillTiling(gert::TilingContext* context, uint32_t dtype)
{
    const gert::RuntimeAttrs* attrs = context->GetAttrs();
    const int64_t* b = attrs->GetInt(0);
    const int64_t* n = attrs->GetInt(1);
    const int64_t* m = attrs->GetInt(2);
    const int64_t* ndim = attrs->GetInt(3);
    const int64_t* numel = attrs->GetInt(4);
    const int64_t* total = attrs->GetInt(5);
    if (!b || !n || !m || !ndim || !numel || !total) return ge::GRAPH_FAILED;
    const uint32_t cores = AivCores(context);
    EnecTilingData* t = context->GetTilingData<EnecTilingData>();
    if (t == nullptr) return ge::GRAPH_FAILED;
    if (EnecComputeTiling(dtype, static_cast<uint64_t>(*numel), static_cast<uint32_t>(*ndim), static_cast<uint32_t>(*b),
                          static_cast<uint32_t>(*n), static_cast<uint32_t>(*m), cores, t) != 0) {
        return ge::GRAPH_FAILED;
    }
    t->totalBytes = static_cast<uint64_t>(*total);
    context->SetBlockDim(cores);
    size_t* ws = context->GetWorkspaceSizes(1);
    ws[0] = 16 * 1024 * 1024;                      // the system workspace the framework reserves on A2
    return ge::GRAPH_SUCCESS;
}

static ge::graphStatus CompressTiling(gert::TilingContext* context)
{
    return FillTiling(context, DtypeCode(context->GetInputDesc(0)->GetDataType()));
}

static ge::graphStatus DecodeSideTiling(gert::TilingContext* context)
{
    // dtype travels as attribute 6 (0 bfloat16, 1 float16, 2 float32)
    const int64_t* dt = context->GetAttrs()->GetInt(6);
    return dt ? FillTiling(context, static_cast<uint32_t>(*dt)) : ge::GRAPH_FAILED;
}

}  // namespace optiling

namespace ops {

static void CommonAttrs(OpDef& op, bool withDtype)
{
    op.Attr("b").AttrType(REQUIRED).Int();
    op.Attr("n").AttrType(REQUIRED).Int();
    op.Attr("m").AttrType(REQUIRED).Int();
    op.Attr("ndim").AttrType(REQUIRED).Int();
    op.Attr("numel").AttrType(REQUIRED).Int();
    op.Attr("total_bytes").AttrType(OPTIONAL).Int(0);
    if (withDtype) op.Attr("dtype").AttrType(REQUIRED).Int();
}

class EnecCompress : public OpDef {
public:
    explicit EnecCompress(const char* name) : OpDef(name)
    {
        this->Input("x").ParamType(REQUIRED)
            .DataType({ge::DT_BF16, ge::DT_FLOAT16, ge::DT_FLOAT})
            .Format({ge::FORMAT_ND, ge::FORMAT_ND, ge::FORMAT_ND});
        this->Output("blob").ParamType(REQUIRED)
            .DataType({ge::DT_UINT8, ge::DT_UINT8, ge::DT_UINT8})
            .Format({ge::FORMAT_ND, ge::FORMAT_ND, ge::FORMAT_ND});
        this->Output("counts").ParamType(REQUIRED)
            .DataType({ge::DT_INT32, ge::DT_INT32, ge::DT_INT32})
            .Format({ge::FORMAT_ND, ge::FORMAT_ND, ge::FORMAT_ND});
        this->Output("staging").ParamType(REQUIRED)
            .DataType({ge::DT_UINT8, ge::DT_UINT8, ge::DT_UINT8})
            .Format({ge::FORMAT_ND, ge::FORMAT_ND, ge::FORMAT_ND});
        CommonAttrs(*this, false);
        this->AICore().SetTiling(optiling::CompressTiling);
        this->AICore().AddConfig("ascend910b");
        this->AICore().AddConfig("ascend910_93");
    }
};

class EnecPlaceOutliers : public OpDef {
public:
    explicit EnecPlaceOutliers(const char* name) : OpDef(name)
    {
        this->Input("staging").ParamType(REQUIRED).DataType({ge::DT_UINT8}).Format({ge::FORMAT_ND});
        this->Input("counts").ParamType(REQUIRED).DataType({ge::DT_INT32}).Format({ge::FORMAT_ND});
        this->Input("blob").ParamType(REQUIRED).DataType({ge::DT_UINT8}).Format({ge::FORMAT_ND});
        this->Output("blob").ParamType(REQUIRED).DataType({ge::DT_UINT8}).Format({ge::FORMAT_ND});
        CommonAttrs(*this, true);
        this->AICore().SetTiling(optiling::DecodeSideTiling);
        this->AICore().AddConfig("ascend910b");
        this->AICore().AddConfig("ascend910_93");
    }
};

class EnecDecompress : public OpDef {
public:
    explicit EnecDecompress(const char* name) : OpDef(name)
    {
        this->Input("blob").ParamType(REQUIRED)
            .DataType({ge::DT_UINT8, ge::DT_UINT8, ge::DT_UINT8})
            .Format({ge::FORMAT_ND, ge::FORMAT_ND, ge::FORMAT_ND});
        this->Output("y").ParamType(REQUIRED)
            .DataType({ge::DT_BF16, ge::DT_FLOAT16, ge::DT_FLOAT})
            .Format({ge::FORMAT_ND, ge::FORMAT_ND, ge::FORMAT_ND});
        CommonAttrs(*this, true);
        this->AICore().SetTiling(optiling::DecodeSideTiling);
        this->AICore().AddConfig("ascend910b");
        this->AICore().AddConfig("ascend910_93");
    }
};

OP_ADD(EnecCompress);
OP_ADD(EnecPlaceOutliers);
OP_ADD(EnecDecompress);

}  // namespace ops
