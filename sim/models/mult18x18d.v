// Simulation model of the Lattice ECP5 MULT18X18D (18x18 multiplier) for netlist simulation.
//
// Written for attnkit from the ECP5 sysDSP usage guide (FPGA-TN-02205): Yosys ships only a
// blackbox for this primitive. Modelled: signed/unsigned A and B (SIGNEDA/SIGNEDB), the
// optional input A/B, pipeline and output registers, each on any of CLK0..CLK3 with its own
// clock enable and reset (RESETMODE SYNC or ASYNC), registers powering up as 0 (GSR).
// Not modelled (inputs ignored, outputs driven 0): the C input, the shift/cascade ports
// (SRI*/SRO*, SOURCEA/SOURCEB), the RO* register outputs and MULT_BYPASS; the model stops
// the simulation if a design uses them.
`timescale 1ns/1ps
module MULT18X18D(
    input A17, A16, A15, A14, A13, A12, A11, A10, A9, A8, A7, A6, A5, A4, A3, A2, A1, A0,
    input B17, B16, B15, B14, B13, B12, B11, B10, B9, B8, B7, B6, B5, B4, B3, B2, B1, B0,
    input C17, C16, C15, C14, C13, C12, C11, C10, C9, C8, C7, C6, C5, C4, C3, C2, C1, C0,
    input SIGNEDA, SIGNEDB, SOURCEA, SOURCEB,
    input CLK3, CLK2, CLK1, CLK0, CE3, CE2, CE1, CE0, RST3, RST2, RST1, RST0,
    input SRIA17, SRIA16, SRIA15, SRIA14, SRIA13, SRIA12, SRIA11, SRIA10, SRIA9, SRIA8,
    input SRIA7, SRIA6, SRIA5, SRIA4, SRIA3, SRIA2, SRIA1, SRIA0,
    input SRIB17, SRIB16, SRIB15, SRIB14, SRIB13, SRIB12, SRIB11, SRIB10, SRIB9, SRIB8,
    input SRIB7, SRIB6, SRIB5, SRIB4, SRIB3, SRIB2, SRIB1, SRIB0,
    output SROA17, SROA16, SROA15, SROA14, SROA13, SROA12, SROA11, SROA10, SROA9, SROA8,
    output SROA7, SROA6, SROA5, SROA4, SROA3, SROA2, SROA1, SROA0,
    output SROB17, SROB16, SROB15, SROB14, SROB13, SROB12, SROB11, SROB10, SROB9, SROB8,
    output SROB7, SROB6, SROB5, SROB4, SROB3, SROB2, SROB1, SROB0,
    output ROA17, ROA16, ROA15, ROA14, ROA13, ROA12, ROA11, ROA10, ROA9, ROA8,
    output ROA7, ROA6, ROA5, ROA4, ROA3, ROA2, ROA1, ROA0,
    output ROB17, ROB16, ROB15, ROB14, ROB13, ROB12, ROB11, ROB10, ROB9, ROB8,
    output ROB7, ROB6, ROB5, ROB4, ROB3, ROB2, ROB1, ROB0,
    output ROC17, ROC16, ROC15, ROC14, ROC13, ROC12, ROC11, ROC10, ROC9, ROC8,
    output ROC7, ROC6, ROC5, ROC4, ROC3, ROC2, ROC1, ROC0,
    output P35, P34, P33, P32, P31, P30, P29, P28, P27, P26, P25, P24, P23, P22, P21, P20,
    output P19, P18, P17, P16, P15, P14, P13, P12, P11, P10, P9, P8, P7, P6, P5, P4, P3, P2,
    output P1, P0, SIGNEDP
);
    parameter REG_INPUTA_CLK = "NONE";
    parameter REG_INPUTA_CE = "CE0";
    parameter REG_INPUTA_RST = "RST0";
    parameter REG_INPUTB_CLK = "NONE";
    parameter REG_INPUTB_CE = "CE0";
    parameter REG_INPUTB_RST = "RST0";
    parameter REG_INPUTC_CLK = "NONE";
    parameter REG_INPUTC_CE = "CE0";
    parameter REG_INPUTC_RST = "RST0";
    parameter REG_PIPELINE_CLK = "NONE";
    parameter REG_PIPELINE_CE = "CE0";
    parameter REG_PIPELINE_RST = "RST0";
    parameter REG_OUTPUT_CLK = "NONE";
    parameter REG_OUTPUT_CE = "CE0";
    parameter REG_OUTPUT_RST = "RST0";
    parameter CLK0_DIV = "ENABLED";
    parameter CLK1_DIV = "ENABLED";
    parameter CLK2_DIV = "ENABLED";
    parameter CLK3_DIV = "ENABLED";
    parameter HIGHSPEED_CLK = "NONE";
    parameter GSR = "ENABLED";
    parameter CAS_MATCH_REG = "FALSE";
    parameter SOURCEB_MODE = "B_SHIFT";
    parameter MULT_BYPASS = "DISABLED";
    parameter RESETMODE = "SYNC";

    wire [17:0] a = {A17, A16, A15, A14, A13, A12, A11, A10, A9, A8, A7, A6, A5, A4, A3, A2, A1, A0};
    wire [17:0] b = {B17, B16, B15, B14, B13, B12, B11, B10, B9, B8, B7, B6, B5, B4, B3, B2, B1, B0};
    wire [3:0] clk = {CLK3, CLK2, CLK1, CLK0};
    wire [3:0] ce = {CE3, CE2, CE1, CE0};
    wire [3:0] rst = {RST3, RST2, RST1, RST0};

    function integer sel;   // "CLKn"/"CEn"/"RSTn" -> n; "NONE" -> -1
        input [8*8-1:0] name;
        begin
            case (name[7:0])
                "0": sel = 0; "1": sel = 1; "2": sel = 2; "3": sel = 3;
                default: sel = -1;
            endcase
        end
    endfunction

    initial begin
        if (MULT_BYPASS != "DISABLED" || SOURCEB_MODE != "B_SHIFT" || REG_INPUTC_CLK != "NONE") begin
            $display("MULT18X18D model: unsupported configuration (MULT_BYPASS/SOURCEB_MODE/C register)");
            $finish;
        end
    end

    localparam ASYNC = (RESETMODE == "ASYNC");
    wire [18:0] a_q, b_q;   // {SIGNEDx, value}
    mult18x18d_stage #(.W(19), .CLK(sel(REG_INPUTA_CLK)), .CE(sel(REG_INPUTA_CE)), .RST(sel(REG_INPUTA_RST)), .ASYNC(ASYNC))
        ina (.clk(clk), .ce(ce), .rst(rst), .d({SIGNEDA, a}), .q(a_q));
    mult18x18d_stage #(.W(19), .CLK(sel(REG_INPUTB_CLK)), .CE(sel(REG_INPUTB_CE)), .RST(sel(REG_INPUTB_RST)), .ASYNC(ASYNC))
        inb (.clk(clk), .ce(ce), .rst(rst), .d({SIGNEDB, b}), .q(b_q));

    // sign-extend a value when its SIGNED flag is set, zero-extend otherwise
    wire signed [18:0] a_s = {a_q[18] & a_q[17], a_q[17:0]};
    wire signed [18:0] b_s = {b_q[18] & b_q[17], b_q[17:0]};
    wire signed [37:0] prod_full = a_s * b_s;
    wire [36:0] prod = {a_q[18] | b_q[18], prod_full[35:0]};   // {SIGNEDP, P}

    wire [36:0] pipe_q, out_q;
    mult18x18d_stage #(.W(37), .CLK(sel(REG_PIPELINE_CLK)), .CE(sel(REG_PIPELINE_CE)), .RST(sel(REG_PIPELINE_RST)), .ASYNC(ASYNC))
        pipe (.clk(clk), .ce(ce), .rst(rst), .d(prod), .q(pipe_q));
    mult18x18d_stage #(.W(37), .CLK(sel(REG_OUTPUT_CLK)), .CE(sel(REG_OUTPUT_CE)), .RST(sel(REG_OUTPUT_RST)), .ASYNC(ASYNC))
        outr (.clk(clk), .ce(ce), .rst(rst), .d(pipe_q), .q(out_q));

    assign {SIGNEDP, P35, P34, P33, P32, P31, P30, P29, P28, P27, P26, P25, P24, P23, P22, P21, P20,
            P19, P18, P17, P16, P15, P14, P13, P12, P11, P10, P9, P8, P7, P6, P5, P4, P3, P2, P1, P0} = out_q;
    assign {SROA17, SROA16, SROA15, SROA14, SROA13, SROA12, SROA11, SROA10, SROA9, SROA8,
            SROA7, SROA6, SROA5, SROA4, SROA3, SROA2, SROA1, SROA0} = 18'b0;
    assign {SROB17, SROB16, SROB15, SROB14, SROB13, SROB12, SROB11, SROB10, SROB9, SROB8,
            SROB7, SROB6, SROB5, SROB4, SROB3, SROB2, SROB1, SROB0} = 18'b0;
    assign {ROA17, ROA16, ROA15, ROA14, ROA13, ROA12, ROA11, ROA10, ROA9, ROA8,
            ROA7, ROA6, ROA5, ROA4, ROA3, ROA2, ROA1, ROA0} = 18'b0;
    assign {ROB17, ROB16, ROB15, ROB14, ROB13, ROB12, ROB11, ROB10, ROB9, ROB8,
            ROB7, ROB6, ROB5, ROB4, ROB3, ROB2, ROB1, ROB0} = 18'b0;
    assign {ROC17, ROC16, ROC15, ROC14, ROC13, ROC12, ROC11, ROC10, ROC9, ROC8,
            ROC7, ROC6, ROC5, ROC4, ROC3, ROC2, ROC1, ROC0} = 18'b0;
endmodule

// One optional register stage of the model: a wire when CLK < 0.
module mult18x18d_stage #(parameter W = 1, parameter CLK = -1, parameter CE = 0,
                          parameter RST = 0, parameter ASYNC = 0) (
    input [3:0] clk, input [3:0] ce, input [3:0] rst, input [W-1:0] d, output [W-1:0] q
);
    generate if (CLK < 0) begin : wire_stage
        assign q = d;
    end else begin : reg_stage
        reg [W-1:0] r = 0;
        if (ASYNC) begin : a
            always @(posedge clk[CLK] or posedge rst[RST])
                if (rst[RST]) r <= 0; else if (ce[CE]) r <= d;
        end else begin : s
            always @(posedge clk[CLK])
                if (rst[RST]) r <= 0; else if (ce[CE]) r <= d;
        end
        assign q = r;
    end endgenerate
endmodule
