// Simulation model of the Lattice ECP5 DP16KD (16 Kbit true dual-port block RAM) for
// netlist simulation. Written for attnkit from the ECP5 memory usage guide (FPGA-TN-02204):
// Yosys's cell library carries only the parameter list of this primitive, no behaviour.
//
// Modelled, per port: data widths 1, 2, 4, 9 and 18 (x18 uses AD[1:0] as byte enables for the
// two 9-bit halves), read latch with clock enable CE, optional output register
// (REGMODE "OUTREG", enable OCE), synchronous or asynchronous output reset RST, chip select
// (CS[2:0] must equal CSDECODE), write modes NORMAL (read latch keeps its value on a write),
// WRITETHROUGH (shows the new data) and READBEFOREWRITE (shows the old data).
// Not modelled: INITVAL contents (must be all zero: the model stops the simulation otherwise),
// and mixing a 9/18-bit port with a 1/2/4-bit port (stops the simulation). Collisions of the
// two ports on one address give whatever the order of the two always blocks gives.
`timescale 1ns/1ps
module DP16KD(
  input DIA17, DIA16, DIA15, DIA14, DIA13, DIA12, DIA11, DIA10, DIA9, DIA8, DIA7, DIA6, DIA5, DIA4, DIA3, DIA2, DIA1, DIA0,
  input ADA13, ADA12, ADA11, ADA10, ADA9, ADA8, ADA7, ADA6, ADA5, ADA4, ADA3, ADA2, ADA1, ADA0,
  input CEA, OCEA, CLKA, WEA, RSTA,
  input CSA2, CSA1, CSA0,
  output DOA17, DOA16, DOA15, DOA14, DOA13, DOA12, DOA11, DOA10, DOA9, DOA8, DOA7, DOA6, DOA5, DOA4, DOA3, DOA2, DOA1, DOA0,
  input DIB17, DIB16, DIB15, DIB14, DIB13, DIB12, DIB11, DIB10, DIB9, DIB8, DIB7, DIB6, DIB5, DIB4, DIB3, DIB2, DIB1, DIB0,
  input ADB13, ADB12, ADB11, ADB10, ADB9, ADB8, ADB7, ADB6, ADB5, ADB4, ADB3, ADB2, ADB1, ADB0,
  input CEB, OCEB, CLKB, WEB, RSTB,
  input CSB2, CSB1, CSB0,
  output DOB17, DOB16, DOB15, DOB14, DOB13, DOB12, DOB11, DOB10, DOB9, DOB8, DOB7, DOB6, DOB5, DOB4, DOB3, DOB2, DOB1, DOB0
);
    parameter DATA_WIDTH_A = 18;
    parameter DATA_WIDTH_B = 18;
    parameter REGMODE_A = "NOREG";
    parameter REGMODE_B = "NOREG";
    parameter RESETMODE = "SYNC";
    parameter ASYNC_RESET_RELEASE = "SYNC";
    parameter CSDECODE_A = "0b000";
    parameter CSDECODE_B = "0b000";
    parameter WRITEMODE_A = "NORMAL";
    parameter WRITEMODE_B = "NORMAL";
    parameter CLKAMUX = "CLKA";
    parameter CLKBMUX = "CLKB";
    parameter WID = 0;
    parameter GSR = "ENABLED";
    parameter INIT_DATA = "STATIC";
    parameter INITVAL_00 = 320'h0;
    parameter INITVAL_01 = 320'h0;
    parameter INITVAL_02 = 320'h0;
    parameter INITVAL_03 = 320'h0;
    parameter INITVAL_04 = 320'h0;
    parameter INITVAL_05 = 320'h0;
    parameter INITVAL_06 = 320'h0;
    parameter INITVAL_07 = 320'h0;
    parameter INITVAL_08 = 320'h0;
    parameter INITVAL_09 = 320'h0;
    parameter INITVAL_0A = 320'h0;
    parameter INITVAL_0B = 320'h0;
    parameter INITVAL_0C = 320'h0;
    parameter INITVAL_0D = 320'h0;
    parameter INITVAL_0E = 320'h0;
    parameter INITVAL_0F = 320'h0;
    parameter INITVAL_10 = 320'h0;
    parameter INITVAL_11 = 320'h0;
    parameter INITVAL_12 = 320'h0;
    parameter INITVAL_13 = 320'h0;
    parameter INITVAL_14 = 320'h0;
    parameter INITVAL_15 = 320'h0;
    parameter INITVAL_16 = 320'h0;
    parameter INITVAL_17 = 320'h0;
    parameter INITVAL_18 = 320'h0;
    parameter INITVAL_19 = 320'h0;
    parameter INITVAL_1A = 320'h0;
    parameter INITVAL_1B = 320'h0;
    parameter INITVAL_1C = 320'h0;
    parameter INITVAL_1D = 320'h0;
    parameter INITVAL_1E = 320'h0;
    parameter INITVAL_1F = 320'h0;
    parameter INITVAL_20 = 320'h0;
    parameter INITVAL_21 = 320'h0;
    parameter INITVAL_22 = 320'h0;
    parameter INITVAL_23 = 320'h0;
    parameter INITVAL_24 = 320'h0;
    parameter INITVAL_25 = 320'h0;
    parameter INITVAL_26 = 320'h0;
    parameter INITVAL_27 = 320'h0;
    parameter INITVAL_28 = 320'h0;
    parameter INITVAL_29 = 320'h0;
    parameter INITVAL_2A = 320'h0;
    parameter INITVAL_2B = 320'h0;
    parameter INITVAL_2C = 320'h0;
    parameter INITVAL_2D = 320'h0;
    parameter INITVAL_2E = 320'h0;
    parameter INITVAL_2F = 320'h0;
    parameter INITVAL_30 = 320'h0;
    parameter INITVAL_31 = 320'h0;
    parameter INITVAL_32 = 320'h0;
    parameter INITVAL_33 = 320'h0;
    parameter INITVAL_34 = 320'h0;
    parameter INITVAL_35 = 320'h0;
    parameter INITVAL_36 = 320'h0;
    parameter INITVAL_37 = 320'h0;
    parameter INITVAL_38 = 320'h0;
    parameter INITVAL_39 = 320'h0;
    parameter INITVAL_3A = 320'h0;
    parameter INITVAL_3B = 320'h0;
    parameter INITVAL_3C = 320'h0;
    parameter INITVAL_3D = 320'h0;
    parameter INITVAL_3E = 320'h0;
    parameter INITVAL_3F = 320'h0;

    localparam WIDE = (DATA_WIDTH_A >= 9);
    reg mem [0:18431];   // 1/2/4-bit ports: bit addr*w+i; 9/18-bit ports: bit addr9*9+i
    integer k;
    initial begin
        for (k = 0; k < 18432; k = k + 1) mem[k] = 1'b0;
        if ((DATA_WIDTH_A >= 9) != (DATA_WIDTH_B >= 9)) begin
            $display("DP16KD model: mixing 9/18-bit and 1/2/4-bit ports is not modelled");
            $finish;
        end
        if ((INITVAL_00 | INITVAL_01 | INITVAL_02 | INITVAL_03 | INITVAL_04 | INITVAL_05 | INITVAL_06 | INITVAL_07 | INITVAL_08 | INITVAL_09 | INITVAL_0A | INITVAL_0B | INITVAL_0C | INITVAL_0D | INITVAL_0E | INITVAL_0F | INITVAL_10 | INITVAL_11 | INITVAL_12 | INITVAL_13 | INITVAL_14 | INITVAL_15 | INITVAL_16 | INITVAL_17 | INITVAL_18 | INITVAL_19 | INITVAL_1A | INITVAL_1B | INITVAL_1C | INITVAL_1D | INITVAL_1E | INITVAL_1F | INITVAL_20 | INITVAL_21 | INITVAL_22 | INITVAL_23 | INITVAL_24 | INITVAL_25 | INITVAL_26 | INITVAL_27 | INITVAL_28 | INITVAL_29 | INITVAL_2A | INITVAL_2B | INITVAL_2C | INITVAL_2D | INITVAL_2E | INITVAL_2F | INITVAL_30 | INITVAL_31 | INITVAL_32 | INITVAL_33 | INITVAL_34 | INITVAL_35 | INITVAL_36 | INITVAL_37 | INITVAL_38 | INITVAL_39 | INITVAL_3A | INITVAL_3B | INITVAL_3C | INITVAL_3D | INITVAL_3E | INITVAL_3F) != 0) begin
            $display("DP16KD model: INITVAL contents are not modelled");
            $finish;
        end
        if (CLKAMUX != "CLKA" || CLKBMUX != "CLKB") begin
            $display("DP16KD model: inverted clocks are not modelled");
            $finish;
        end
    end

    function [2:0] csval; input [8*5-1:0] s; csval = {s[16], s[8], s[0]}; endfunction

    wire [17:0] dia = {DIA17, DIA16, DIA15, DIA14, DIA13, DIA12, DIA11, DIA10, DIA9, DIA8, DIA7, DIA6, DIA5, DIA4, DIA3, DIA2, DIA1, DIA0};
    wire [13:0] ada = {ADA13, ADA12, ADA11, ADA10, ADA9, ADA8, ADA7, ADA6, ADA5, ADA4, ADA3, ADA2, ADA1, ADA0};
    wire [17:0] dib = {DIB17, DIB16, DIB15, DIB14, DIB13, DIB12, DIB11, DIB10, DIB9, DIB8, DIB7, DIB6, DIB5, DIB4, DIB3, DIB2, DIB1, DIB0};
    wire [13:0] adb = {ADB13, ADB12, ADB11, ADB10, ADB9, ADB8, ADB7, ADB6, ADB5, ADB4, ADB3, ADB2, ADB1, ADB0};
    wire sela = ({CSA2, CSA1, CSA0} == csval(CSDECODE_A));
    wire selb = ({CSB2, CSB1, CSB0} == csval(CSDECODE_B));

    // bit position of data bit i of a port with width w at address ad
    function integer pos;
        input integer w; input [13:0] ad; input integer i;
        begin
            case (w)
                1: pos = ad;
                2: pos = ad[13:1] * 2 + i;
                4: pos = ad[13:2] * 4 + i;
                9: pos = ad[13:3] * 9 + i;
                default: pos = ad[13:4] * 18 + i;   // 18
            endcase
        end
    endfunction

    reg [17:0] latch_a = 0, latch_b = 0, out_a = 0, out_b = 0;

    // One clock edge of a port: write the array, return the read latch's next value.
    task automatic port_cycle;
        input integer w; input [13:0] ad; input [17:0] di; input we; input [8*16-1:0] mode;
        input [17:0] latch; output [17:0] next;
        reg [17:0] old;
        integer j;
        begin
            old = 0;
            for (j = 0; j < w; j = j + 1) old[j] = mem[pos(w, ad, j)];
            next = old;
            if (we) begin
                for (j = 0; j < w; j = j + 1)
                    if (w != 18 || (j < 9 ? ad[0] : ad[1])) mem[pos(w, ad, j)] = di[j];
                if (mode == "WRITETHROUGH") next = di;
                else if (mode == "READBEFOREWRITE") next = old;
                else next = latch;   // NORMAL: the latch keeps its value on a write
            end
        end
    endtask

    reg [17:0] next_a, next_b;
    always @(posedge CLKA) begin
        if (CEA && sela) begin
            port_cycle(DATA_WIDTH_A, ada, dia, WEA, WRITEMODE_A, latch_a, next_a);
            latch_a <= next_a;
        end
        if (RSTA && RESETMODE == "SYNC") out_a <= 0; else if (OCEA) out_a <= latch_a;
    end
    always @(posedge CLKB) begin
        if (CEB && selb) begin
            port_cycle(DATA_WIDTH_B, adb, dib, WEB, WRITEMODE_B, latch_b, next_b);
            latch_b <= next_b;
        end
        if (RSTB && RESETMODE == "SYNC") out_b <= 0; else if (OCEB) out_b <= latch_b;
    end
    always @(posedge RSTA) if (RESETMODE == "ASYNC") begin out_a <= 0; latch_a <= 0; end
    always @(posedge RSTB) if (RESETMODE == "ASYNC") begin out_b <= 0; latch_b <= 0; end

    wire [17:0] doa = (REGMODE_A == "OUTREG") ? out_a : latch_a;
    wire [17:0] dob = (REGMODE_B == "OUTREG") ? out_b : latch_b;
    assign {DOA17, DOA16, DOA15, DOA14, DOA13, DOA12, DOA11, DOA10, DOA9, DOA8, DOA7, DOA6, DOA5, DOA4, DOA3, DOA2, DOA1, DOA0} = doa;
    assign {DOB17, DOB16, DOB15, DOB14, DOB13, DOB12, DOB11, DOB10, DOB9, DOB8, DOB7, DOB6, DOB5, DOB4, DOB3, DOB2, DOB1, DOB0} = dob;
endmodule
